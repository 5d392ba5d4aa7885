/**
 * The local stack's data folder (`.syntropism/` by default): the DynamoDB Local database
 * (`dynamodb/`), the NATS store (`nats/`), the operator key (`operator-key`) and the running
 * stack's record (`stack.json`, see stack-lock.ts). What lives there survives a restart: a
 * stack started again on its folder finds its economy, its events and its operator key.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DATABASE_FILE } from './dynamodb-local.ts';
import { generateOperatorKey } from './env.ts';
import { readStackRecord, runningStack, type StackRecord } from './stack-lock.ts';

export const OPERATOR_KEY_FILE = 'operator-key';

/** The data folder of a stack whose database lives in `dataDir` (`.syntropism/dynamodb`). */
export const dataRootOf = (dataDir: string) => dirname(dataDir);

export const natsStoreOf = (root: string) => join(root, 'nats');

/**
 * The operator key of a stack on `root`: the one it was first given, kept (mode 0600) so a
 * restart on the same data keeps working with the key its users already hold.
 */
export function keptOperatorKey(root: string): { key: string; generated: boolean } {
  const file = join(root, OPERATOR_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length >= 16) return { key, generated: false };
  }
  const key = generateOperatorKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, generated: true };
}

/** Where `syntropism audit` without flags looks: the running stack, or the data it left. */
export type LocalAuditTarget =
  | { kind: 'running'; record: StackRecord & { dynamo_endpoint: string; table: string } }
  | { kind: 'stopped'; dataDir: string; table: string }
  | { kind: 'none'; root: string };

export function localAuditTarget(root: string, table: string): LocalAuditTarget {
  const running = runningStack(root);
  if (running?.dynamo_endpoint && running.table) {
    return { kind: 'running', record: { ...running, dynamo_endpoint: running.dynamo_endpoint, table: running.table } };
  }
  const dataDir = join(root, 'dynamodb');
  if (existsSync(join(dataDir, DATABASE_FILE))) {
    return { kind: 'stopped', dataDir, table: readStackRecord(root)?.table ?? table };
  }
  return { kind: 'none', root };
}

export const noLocalData = (root: string) =>
  `no local stack data in ${relative(process.cwd(), root) || '.'}: start one with \`npm start\`, ` +
  'or audit a table on AWS with --region R [--table T] (or another endpoint with --endpoint URL)';
