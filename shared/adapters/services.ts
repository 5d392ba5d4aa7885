/**
 * Composition: small builders, each making one adapter from what it is handed, so a function
 * builds only the stores it uses (and bundles only their code). The store constructors are
 * called here and nowhere else in production code.
 *
 * `createServices(config, overrides)` composes all of them into the `Services` object the local
 * stack and the tests use; each Lambda entry composes only what its function uses.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import type { Config } from '../config.ts';
import { type EconomyConfig, loadEconomyConfig } from '../core/market-config.ts';
import { type Runtime, systemRuntime } from '../core/ports.ts';
import { Agents } from './dynamodb/agents.ts';
import { Allocations } from './dynamodb/allocations.ts';
import { Bids } from './dynamodb/bids.ts';
import { Clearing, type ClearingDeps, type ClearingFaults } from './dynamodb/clearing.ts';
import { dynamoClients, dynamoOptionsOf, type TableRef } from './dynamodb/client.ts';
import { Executions } from './dynamodb/executions.ts';
import { DynamoIdempotencyStore } from './dynamodb/idempotency.ts';
import { Ledger } from './dynamodb/ledger.ts';
import { LedgerWriter, moneyLimitsOf } from './dynamodb/ledger-writer.ts';
import { Market } from './dynamodb/market.ts';
import { Prompts } from './dynamodb/prompts.ts';
import { Raters } from './dynamodb/raters.ts';
import { Rewards } from './dynamodb/rewards.ts';
import { Spawning, spawnRulesOf } from './dynamodb/spawning.ts';
import { type TransactWriter, TxRunner } from './dynamodb/transaction.ts';

export type TableConfig = Pick<
  Config,
  'TABLE_NAME' | 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'
>;

/** The table of `config`, with a client of its own (one per container). */
export function tableOf(config: TableConfig): TableRef {
  return { doc: dynamoClients(dynamoOptionsOf(config)).doc, tableName: config.TABLE_NAME };
}

export interface TxOverrides {
  writer?: TransactWriter;
  sleep?: (ms: number) => Promise<void>;
}

export function txRunnerOf(
  table: TableRef,
  config: Pick<Config, 'TX_MAX_ATTEMPTS'>,
  runtime: Runtime,
  overrides: TxOverrides = {},
): TxRunner {
  return new TxRunner(table, {
    maxAttempts: config.TX_MAX_ATTEMPTS,
    random: runtime.random,
    ...(overrides.writer && { writer: overrides.writer }),
    ...(overrides.sleep && { sleep: overrides.sleep }),
  });
}

/** The economy of `SYNTROPISM_ECONOMY` (inline JSON or a file) over the defaults. */
export function economyOf(config: Pick<Config, 'SYNTROPISM_ECONOMY'>): EconomyConfig {
  return loadEconomyConfig({ env: { SYNTROPISM_ECONOMY: config.SYNTROPISM_ECONOMY } });
}

export function loggerOf(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  return new Logger({ serviceName: 'syntropism', logLevel: config.LOG_LEVEL });
}

/** What every store writing through transactions works with. */
export interface StoreBase {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
}

/** The stores that move money also share the one writer of account items. */
export interface LedgerBase extends StoreBase {
  writer: LedgerWriter;
}

/** The writer enforces the economy's money limits on every account item it writes. */
export function ledgerBaseOf(base: StoreBase, economy: EconomyConfig): LedgerBase {
  return { ...base, writer: new LedgerWriter(base.table.tableName, moneyLimitsOf(economy)) };
}

export function ledgerOf(base: LedgerBase, config: Pick<Config, 'LEDGER_SHARDS'>): Ledger {
  return new Ledger({ ...base, shards: config.LEDGER_SHARDS });
}

export function agentsOf(base: LedgerBase, ledger: Ledger): Agents {
  return new Agents({ ...base, ledger });
}

/** Spawning writes through the ledger writer, under the economy's fee and limits. */
export function spawningOf(base: LedgerBase, ledger: Ledger, economy: EconomyConfig): Spawning {
  return new Spawning({ ...base, ledger, rules: spawnRulesOf(economy.spawning) });
}

export function marketOf(base: StoreBase, economy: EconomyConfig): Market {
  return new Market({ ...base, economy });
}

export function bidsOf(
  base: LedgerBase,
  deps: { ledger: Ledger; economy: EconomyConfig },
  config: Pick<Config, 'ROUND_BID_SHARDS'>,
): Bids {
  return new Bids({ ...base, ...deps, roundShards: config.ROUND_BID_SHARDS });
}

export function allocationsOf(base: StoreBase): Allocations {
  return new Allocations(base);
}

/** Executions read their allocation through the allocations store. */
export function executionsOf(base: StoreBase, allocations: Allocations): Executions {
  return new Executions({ ...base, allocation: (id) => allocations.get(id) });
}

/** Prompts read their allocation through the allocations store; they expire after the economy's TTL. */
export function promptsOf(base: StoreBase, allocations: Allocations, economy: EconomyConfig): Prompts {
  return new Prompts({
    ...base,
    allocation: (id) => allocations.get(id),
    ttlSeconds: economy.rewards.prompt_ttl_seconds,
  });
}

export function ratersOf(base: Pick<StoreBase, 'table' | 'runtime'>): Raters {
  return new Raters(base);
}

/** Rewards mint through the ledger writer; the prompt is read through the prompts store. */
export function rewardsOf(base: LedgerBase, prompts: Prompts, economy: EconomyConfig): Rewards {
  return new Rewards({ ...base, prompts, economy });
}

export interface ClearingOverrides {
  clearingFaults?: ClearingFaults;
  maxBidsPerTransaction?: number;
  settlementConcurrency?: number;
  dispatch?: ClearingDeps['dispatch'];
}

export function clearingOf(
  base: LedgerBase,
  deps: { ledger: Ledger; bids: Bids; market: Market; agents: Agents; economy: EconomyConfig },
  overrides: ClearingOverrides = {},
): Clearing {
  const { market, ...rest } = deps;
  return new Clearing({
    ...base,
    ...rest,
    prices: () => market.prices(),
    ...(overrides.clearingFaults && { faults: overrides.clearingFaults }),
    ...(overrides.maxBidsPerTransaction && { maxBidsPerTransaction: overrides.maxBidsPerTransaction }),
    ...(overrides.settlementConcurrency && { settlementConcurrency: overrides.settlementConcurrency }),
    ...(overrides.dispatch && { dispatch: overrides.dispatch }),
  });
}

/** Every store of the market (clearing needs all of them), from one table, runner and writer. */
export function marketStoresOf(
  base: LedgerBase,
  config: Pick<Config, 'LEDGER_SHARDS' | 'ROUND_BID_SHARDS'>,
  economy: EconomyConfig,
  overrides: ClearingOverrides = {},
): { ledger: Ledger; agents: Agents; bids: Bids; market: Market; clearing: Clearing } {
  const ledger = ledgerOf(base, config);
  const agents = agentsOf(base, ledger);
  const bids = bidsOf(base, { ledger, economy }, config);
  const market = marketOf(base, economy);
  const clearing = clearingOf(base, { ledger, bids, market, agents, economy }, overrides);
  return { ledger, agents, bids, market, clearing };
}

/** What the HTTP stack stores besides the throttle: idempotency records, and a logger. */
export interface RequestStores {
  idempotency: DynamoIdempotencyStore;
  logger: Logger;
}

export function requestStoresOf(
  table: TableRef,
  config: Pick<Config, 'LOG_LEVEL'>,
  runtime: Pick<Runtime, 'clock'>,
): RequestStores {
  return { idempotency: new DynamoIdempotencyStore(table, runtime.clock), logger: loggerOf(config) };
}

/** What every composition starts from: the clock and ids, the table, the economy, the runner and writer. */
export function ledgerBaseFrom(
  config: TableConfig & Pick<Config, 'TX_MAX_ATTEMPTS' | 'SYNTROPISM_ECONOMY'>,
): LedgerBase & { economy: EconomyConfig } {
  const runtime = systemRuntime();
  const table = tableOf(config);
  const economy = economyOf(config);
  return { ...ledgerBaseOf({ table, tx: txRunnerOf(table, config, runtime), runtime }, economy), economy };
}

export interface Services {
  config: Config;
  runtime: Runtime;
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  agents: Agents;
  spawning: Spawning;
  economy: EconomyConfig;
  bids: Bids;
  market: Market;
  clearing: Clearing;
  allocations: Allocations;
  executions: Executions;
  prompts: Prompts;
  raters: Raters;
  rewards: Rewards;
  idempotency: DynamoIdempotencyStore;
  logger: Logger;
}

export interface ServiceOverrides extends TxOverrides, ClearingOverrides {
  runtime?: Runtime;
  table?: TableRef;
  economy?: EconomyConfig;
}

/** Everything, composed from the builders above. */
export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const runtime = overrides.runtime ?? systemRuntime();
  const table = overrides.table ?? tableOf(config);
  const economy = overrides.economy ?? economyOf(config);
  const base = ledgerBaseOf({ table, tx: txRunnerOf(table, config, runtime, overrides), runtime }, economy);
  const allocations = allocationsOf(base);
  const prompts = promptsOf(base, allocations, economy);
  const stores = marketStoresOf(base, config, economy, {
    settlementConcurrency: config.SETTLEMENT_CONCURRENCY,
    ...overrides,
  });
  return {
    config,
    ...base,
    economy,
    ...stores,
    spawning: spawningOf(base, stores.ledger, economy),
    allocations,
    executions: executionsOf(base, allocations),
    prompts,
    raters: ratersOf(base),
    rewards: rewardsOf(base, prompts, economy),
    ...requestStoresOf(table, config, runtime),
  };
}
