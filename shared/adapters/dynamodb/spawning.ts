/**
 * Spawning on DynamoDB: a child agent, its account, its funding and the parent's fee in ONE
 * `TransactWriteItems`, as `core/spawning.ts` decides them; and an agent's children, listed
 * through GSI2. The actions, in plan order (the first failed condition decides the outcome):
 *
 *   0. the child's agent item, conditioned on not existing: its id derives from the parent and
 *      the Idempotency-Key, so a retry after a lost answer finds it and spawns nothing twice;
 *   1. the parent's agent item, conditioned on `state = active` and on a free child slot,
 *      `ADD children_count 1`;
 *   2. the ledger writer's actions: the fee and funding guards and entries, the parent's account
 *      under its version (debit covered by the balance at commit), the burn shard, the child's
 *      account opened with its funding;
 *   3. the outbox item with every event of the spawn.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { newApiKey } from '../../core/api-keys.ts';
import { conflict, notFound } from '../../core/errors.ts';
import type { EventContext } from '../../core/events.ts';
import { type Micros, micros, parseCredits } from '../../core/money.ts';
import { ledgerChange } from '../../core/movements.ts';
import { derivedUlid, type Runtime } from '../../core/ports.ts';
import {
  agentDormant,
  decideSpawn,
  type Lineage,
  lineageOf,
  type SpawnParent,
  type SpawnRefusal,
  type SpawnRules,
  spawnLimitReached,
  spawnRefusal,
} from '../../core/spawning.ts';
import { keys } from '../../table.ts';
import { type AgentItem, readAgent } from './agents.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';
import type { Ledger } from './ledger.ts';
import { insufficientBalance, type LedgerWriter } from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxAction, TxPlan, TxRunner } from './transaction.ts';

export interface SpawningDeps {
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  runtime: Runtime;
  rules: SpawnRules;
}

/** The economy's `spawning` keys (the fee in credits) as rules in micro-credits. */
export function spawnRulesOf(spawning: { fee: number; max_depth: number; max_children: number }): SpawnRules {
  return {
    fee: parseCredits(spawning.fee, { allowZero: true }),
    max_depth: spawning.max_depth,
    max_children: spawning.max_children,
  };
}

export interface SpawnRequest {
  parent_id: string;
  idempotency_key: string;
  name: string;
  initial_balance: Micros;
  metadata?: Record<string, unknown>;
}

export interface SpawnOutcome {
  child: AgentItem;
  lineage: Lineage;
  /** Shown once: absent when the spawn had already happened (a retry). */
  api_key?: string;
  balance: Micros;
  parent_balance: Micros;
}

/** The id of the child a parent's spawn under `idempotencyKey` creates, the same on every retry. */
export const childIdOf = (parentId: string, idempotencyKey: string) =>
  derivedUlid('a', parentId, 'child', idempotencyKey);

export class Spawning {
  constructor(private readonly deps: SpawningDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  spawn(req: SpawnRequest, ctx: EventContext): Promise<SpawnOutcome> {
    const childId = childIdOf(req.parent_id, req.idempotency_key);
    // Serialized with the parent's other writes in this process: they all hold its account.
    return this.deps.tx.run<SpawnOutcome>(`spawn ${childId}`, () => this.plan(childId, req, ctx), {
      serialize: [req.parent_id],
    });
  }

  private async plan(
    childId: string,
    req: SpawnRequest,
    ctx: EventContext,
  ): Promise<TxPlan<SpawnOutcome> | { done: SpawnOutcome }> {
    const { runtime, ledger, rules } = this.deps;
    const [parentItem, account, existing] = await Promise.all([
      readAgent(this.deps.table, req.parent_id),
      ledger.getAccount(req.parent_id),
      readAgent(this.deps.table, childId),
    ]);
    if (existing) return { done: await this.replay(existing, req) };
    if (!parentItem || !account) throw notFound(`Agent ${req.parent_id}`);
    const parent: SpawnParent = {
      agent_id: req.parent_id,
      state: parentItem.state,
      lineage: lineageOf(parentItem),
      balance: micros(account.balance),
      seq: account.seq,
    };
    const refusal = spawnRefusal(parent, req.initial_balance, rules);
    if (refusal) throw refusalError(req.parent_id, refusal);
    const now = runtime.clock.now();
    const createdAt = new Date(now).toISOString();
    const { apiKey, keyHash } = newApiKey(childId, runtime.random);
    const child = { agent_id: childId, name: req.name, initial_balance: req.initial_balance, created_at: createdAt };
    const decision = decideSpawn(runtime, parent, child, rules, ledger.burnAccount(childId), ctx);
    const item: AgentItem = {
      agent_id: childId,
      name: req.name,
      state: 'active',
      key_hash: keyHash,
      parent_id: req.parent_id,
      ancestors: decision.lineage.ancestors,
      generation: decision.lineage.generation,
      children_count: 0,
      initial_balance: req.initial_balance,
      ...(req.metadata !== undefined && { metadata: JSON.stringify(req.metadata) }),
      created_at: createdAt,
    };
    const change = ledgerChange(decision.movements, [
      { account_id: req.parent_id, seq: decision.parentEvents, lock: { kind: 'version', version: account.version } },
      // Opened by the spawn with its funding already credited: one transaction writes an item once.
      { account_id: childId, seq: 1, opened_at: createdAt },
    ]);
    const { key_hash: _hidden, ...shown } = item;
    return {
      actions: [
        this.childPut(item, now),
        this.parentSlot(req.parent_id),
        // A guard that exists means the child does too: replanning finds it and replays.
        ...this.deps.writer.actions<SpawnOutcome>(change, () => ({ kind: 'retry' })),
        outboxAction<SpawnOutcome>(this.tableName, decision.events, now),
      ],
      result: () => ({
        child: shown as AgentItem,
        lineage: decision.lineage,
        api_key: apiKey,
        balance: req.initial_balance,
        parent_balance: decision.parentBalanceAfter,
      }),
    };
  }

  /** The child's item, in the agents list (GSI1) and under its parent (GSI2). */
  private childPut(item: AgentItem, now: number): TxAction<SpawnOutcome> {
    return {
      label: 'child agent',
      item: {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.agent(item.agent_id),
            ...keys.agentsIndex(item.agent_id),
            ...keys.childrenIndex(item.parent_id ?? '', now, item.agent_id),
            kind: 'agent',
            ...item,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      // Spawned meanwhile under the same key: replanning reads the child and replays it.
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  /** The parent takes a child slot, active and under the children limit at commit. */
  private parentSlot(parentId: string): TxAction<SpawnOutcome> {
    const { max_children } = this.deps.rules;
    return {
      label: 'parent agent',
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.agent(parentId),
          UpdateExpression: 'ADD children_count :one',
          // Named clauses: the parent exists, is awake, and has a slot left.
          ConditionExpression:
            'attribute_exists(PK) AND #state = :active AND (attribute_not_exists(children_count) OR children_count < :max)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':one': 1, ':active': 'active', ':max': max_children },
        },
      },
      onConditionFailed: (old) => parentRefusal(parentId, old, max_children),
    };
  }

  /** A spawn under a key that already spawned: the child as it is, without its key. */
  private async replay(existing: AgentItem, req: SpawnRequest): Promise<SpawnOutcome> {
    const same =
      existing.parent_id === req.parent_id &&
      existing.name === req.name &&
      (existing.initial_balance ?? 0) === req.initial_balance &&
      existing.metadata === (req.metadata === undefined ? undefined : JSON.stringify(req.metadata));
    if (!same) throw conflict(`This Idempotency-Key already spawned ${existing.agent_id} with other parameters.`);
    const [childAccount, parentAccount] = await Promise.all([
      this.deps.ledger.getAccount(existing.agent_id),
      this.deps.ledger.getAccount(req.parent_id),
    ]);
    const { key_hash: _hidden, ...shown } = existing;
    return {
      child: shown as AgentItem,
      lineage: lineageOf(existing),
      balance: micros(childAccount?.balance ?? 0),
      parent_balance: micros(parentAccount?.balance ?? 0),
    };
  }

  /** An agent's children, newest first, paginated by an opaque cursor. */
  async children(
    parentId: string,
    opts: { limit: number; cursor?: string; caller: string },
  ): Promise<{ children: AgentItem[]; next_cursor: string | null }> {
    const pages = listings.children(opts.caller, parentId);
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :p',
        ExpressionAttributeValues: { ':p': keys.childrenPartition(parentId) },
        ScanIndexForward: false,
        Limit: opts.limit,
        ExclusiveStartKey: pages.decode(opts.cursor),
      }),
    );
    return { children: (out.Items ?? []) as AgentItem[], next_cursor: pages.encode(out.LastEvaluatedKey) };
  }
}

function refusalError(parentId: string, r: SpawnRefusal): Error {
  if (r.code === 'agent_dormant') return agentDormant(parentId);
  if (r.code === 'spawn_limit_reached') return spawnLimitReached(r.limit, r.max);
  return insufficientBalance(r.required, r.available);
}

/** Why the parent's condition failed, read off its item as it was at commit (ALL_OLD). */
function parentRefusal(parentId: string, old: Item | undefined, maxChildren: number) {
  if (!old) return { kind: 'fail' as const, error: notFound(`Agent ${parentId}`) };
  if (old.state !== 'active') return { kind: 'fail' as const, error: agentDormant(parentId) };
  if (Number(old.children_count ?? 0) >= maxChildren) {
    return { kind: 'fail' as const, error: spawnLimitReached('children', maxChildren) };
  }
  return { kind: 'retry' as const };
}
