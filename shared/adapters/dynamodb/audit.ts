/**
 * The ledger audit against a table: reads every account, transfer and entry (parallel scan)
 * and runs the pure invariant check of `core/ledger.ts`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import {
  type AuditAccount,
  type AuditReport,
  auditLedger as check,
  type Entry,
  MINT_ACCOUNT,
  type TransferRecord,
} from '../../core/ledger.ts';
import { toEntry } from './ledger.ts';
import { talliesOf, toTransferRecord } from './ledger-writer.ts';

const isTallied = (accountId: string) => accountId === MINT_ACCOUNT || accountId.startsWith('burn#');

import type { Item } from './transaction.ts';

const SEGMENTS = 4;

export async function scanKinds(doc: DynamoDBDocumentClient, tableName: string, kinds: string[]): Promise<Item[]> {
  const names = kinds.map((_, i) => `:k${i}`);
  const segment = async (n: number) => {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await doc.send(
        new ScanCommand({
          TableName: tableName,
          Segment: n,
          TotalSegments: SEGMENTS,
          ConsistentRead: true,
          FilterExpression: `kind IN (${names.join(', ')})`,
          ExpressionAttributeValues: Object.fromEntries(kinds.map((k, i) => [`:k${i}`, k])),
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  };
  const parts = await Promise.all(Array.from({ length: SEGMENTS }, (_, i) => segment(i)));
  return parts.flat();
}

export async function auditLedger(deps: { client: DynamoDBDocumentClient; tableName: string }): Promise<AuditReport> {
  const items = await scanKinds(deps.client, deps.tableName, ['account', 'entry', 'transfer']);
  const accounts: AuditAccount[] = [];
  const entries: Entry[] = [];
  const transfers: TransferRecord[] = [];
  for (const item of items) {
    if (item.kind === 'account') {
      accounts.push({
        account_id: String(item.account_id),
        balance: Number(item.balance),
        is_agent: item.is_agent === true,
        // Mint and burn keep per-purpose tallies from their first movement on: always checked.
        ...(isTallied(String(item.account_id)) && { tallies: talliesOf(item) }),
      });
    } else if (item.kind === 'entry') entries.push(toEntry(item));
    else transfers.push(toTransferRecord(item));
  }
  return check({ accounts, entries, transfers });
}
