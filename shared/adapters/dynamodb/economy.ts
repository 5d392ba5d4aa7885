/**
 * The economy's summary (`GET /v1/economy`): minted by source, burned by purpose, escrowed and
 * circulating, read off the system accounts alone — mint and the burn shards keep per-purpose
 * tallies (written by the ledger writer with every movement), so the summary costs one read of
 * `1 + 2 × shards` items however large the economy grows.
 *
 * With up to 49 shards the items are read in one `TransactGetItems`, a serializable snapshot:
 * `circulating = minted − burned − escrowed` is then exactly the sum of all agent balances at
 * one instant. Beyond that, consistent reads in batches, each item exact but not all at once.
 */
import { TransactGetCommand } from '@aws-sdk/lib-dynamodb';
import { BURNING_PURPOSES, MINT_ACCOUNT, MINTING_PURPOSES } from '../../core/ledger.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { parseCredits } from '../../core/money.ts';
import type { Clock } from '../../core/ports.ts';
import { keys, shardAccountId } from '../../table.ts';
import { getAll, type TableRef } from './client.ts';
import { talliesOf } from './ledger-writer.ts';
import type { Item } from './transaction.ts';

/** The summary in micro-credits; the HTTP presenter turns it into credits. */
export interface EconomySummary {
  minted: { grants: number; rewards: number; total: number };
  burned: Record<(typeof BURNING_PURPOSES)[number], number> & { total: number };
  escrowed: number;
  circulating: number;
  ceilings: { max_minted: number; remaining: number; max_grant: number; max_minted_per_rater_per_hour: number };
  as_of: string;
}

export interface EconomyDeps {
  table: TableRef;
  shards: number;
  clock: Clock;
  economy: Pick<EconomyConfig, 'money'>;
}

const TRANSACT_GET_LIMIT = 100;

export async function economySummary(deps: EconomyDeps): Promise<EconomySummary> {
  const ids = [MINT_ACCOUNT, ...shardIds('burn', deps.shards), ...shardIds('escrow', deps.shards)];
  const items = await readAccounts(deps.table, ids);
  const byId = new Map(items.map((i) => [String(i.account_id), i]));
  const balance = (id: string) => Number(byId.get(id)?.balance ?? 0);
  const mint = byId.get(MINT_ACCOUNT);
  const mintTallies = mint ? talliesOf(mint) : {};
  const minted = -balance(MINT_ACCOUNT);
  const burnedBy = Object.fromEntries(BURNING_PURPOSES.map((p) => [p, 0])) as EconomySummary['burned'];
  let burned = 0;
  for (const id of shardIds('burn', deps.shards)) {
    burned += balance(id);
    const tallies = byId.has(id) ? talliesOf(byId.get(id) as Item) : {};
    for (const p of BURNING_PURPOSES) burnedBy[p] += tallies[p] ?? 0;
  }
  burnedBy.total = burned;
  const escrowed = shardIds('escrow', deps.shards).reduce((s, id) => s + balance(id), 0);
  const [grants, rewards] = MINTING_PURPOSES.map((p) => mintTallies[p] ?? 0) as [number, number];
  const maxMinted = deps.economy.money.max_minted * 1_000_000;
  return {
    minted: { grants, rewards, total: minted },
    burned: burnedBy,
    escrowed,
    circulating: minted - burned - escrowed,
    ceilings: {
      max_minted: maxMinted,
      remaining: maxMinted - minted,
      max_grant: parseCredits(deps.economy.money.max_grant),
      max_minted_per_rater_per_hour: parseCredits(deps.economy.money.max_minted_per_rater_per_hour),
    },
    as_of: new Date(deps.clock.now()).toISOString(),
  };
}

const shardIds = (base: 'escrow' | 'burn', shards: number) =>
  Array.from({ length: shards }, (_, i) => shardAccountId(base, i));

async function readAccounts(table: TableRef, ids: string[]): Promise<Item[]> {
  if (ids.length > TRANSACT_GET_LIMIT) return getAll(table, ids.map(keys.account));
  const out = await table.doc.send(
    new TransactGetCommand({
      TransactItems: ids.map((id) => ({ Get: { TableName: table.tableName, Key: keys.account(id) } })),
    }),
  );
  return (out.Responses ?? []).flatMap((r) => (r.Item ? [r.Item as Item] : []));
}
