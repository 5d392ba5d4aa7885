/**
 * Spawning, free of any storage: what an agent's child inherits (its lineage), what a spawn
 * moves and emits, and when a spawn is refused. The DynamoDB adapter (`adapters/dynamodb/
 * spawning.ts`) writes what is decided here, in one transaction, and maps what its conditions
 * refuse at commit back to the same refusals.
 *
 * A spawn, for a parent P with account sequence n and a child C:
 *
 *   - `spawn_fee`: P → a burn shard, the fee (none when the economy's fee is 0);
 *   - `spawn_funding`: P → C, the initial balance (none when it is 0);
 *   - events, in this order: `credits_transferred` (fee, P's n+1), `agent_registered` (C's 1,
 *     with `parent_id`), `credits_transferred` (funding, P's next), `agent_spawned` (P's last),
 *     so a consumer meets the child before the credits paid to it and the summary after both.
 *
 * Money is conserved exactly: P loses fee + initial balance, the burn shard gains the fee, C
 * gains the initial balance, nothing else moves.
 */
import { DomainError } from './errors.ts';
import type { Envelope, EventContext } from './events.ts';
import { makeEvent } from './events.ts';
import { formatCredits, type Micros, micros } from './money.ts';
import { agentAggregate, type Movement, spawnFee, spawnFunding, transferredEvent } from './movements.ts';
import type { Clock, IdGenerator } from './ports.ts';

/** Largest `metadata` of a spawned agent, serialized as JSON, in bytes. */
export const MAX_METADATA_BYTES = 4096;
/** Deepest nesting of objects and arrays in `metadata` (the object itself is level 1). */
export const MAX_METADATA_DEPTH = 8;

/** Where an agent stands in its family tree. Registered agents are roots: generation 0. */
export interface Lineage {
  parent_id: string | null;
  /** Every ancestor, the root first and the parent last; [] for a root. */
  ancestors: string[];
  generation: number;
  /** Children spawned so far (never decreases: the `max_children` bound is on spawns, ever). */
  children_count: number;
}

/** The lineage an agent item records; items written before lineage existed read as roots. */
export function lineageOf(item: {
  parent_id?: string | null;
  ancestors?: readonly string[];
  generation?: number;
  children_count?: number;
}): Lineage {
  return {
    parent_id: item.parent_id ?? null,
    ancestors: [...(item.ancestors ?? [])],
    generation: item.generation ?? 0,
    children_count: item.children_count ?? 0,
  };
}

/** The lineage a child of `parent` starts with. */
export function childLineage(parentId: string, parent: Lineage): Lineage {
  return {
    parent_id: parentId,
    ancestors: [...parent.ancestors, parentId],
    generation: parent.generation + 1,
    children_count: 0,
  };
}

/** The economy's spawning rules, in micro-credits. */
export interface SpawnRules {
  fee: Micros;
  max_depth: number;
  max_children: number;
}

export type SpawnRefusal =
  | { code: 'agent_dormant' }
  | { code: 'spawn_limit_reached'; limit: 'depth' | 'children'; max: number }
  | { code: 'insufficient_balance'; required: Micros; available: Micros };

export interface SpawnParent {
  agent_id: string;
  state: 'active' | 'dormant';
  lineage: Lineage;
  /** The parent's account as read: its balance and the last number of its event sequence. */
  balance: Micros;
  seq: number;
}

/** Why `parent` may not spawn a child funded with `initialBalance`, or undefined. */
export function spawnRefusal(parent: SpawnParent, initialBalance: Micros, rules: SpawnRules): SpawnRefusal | undefined {
  if (parent.state !== 'active') return { code: 'agent_dormant' };
  if (parent.lineage.generation + 1 > rules.max_depth) {
    return { code: 'spawn_limit_reached', limit: 'depth', max: rules.max_depth };
  }
  if (parent.lineage.children_count >= rules.max_children) {
    return { code: 'spawn_limit_reached', limit: 'children', max: rules.max_children };
  }
  const required = micros(rules.fee + initialBalance);
  if (parent.balance < required) return { code: 'insufficient_balance', required, available: parent.balance };
  return undefined;
}

export const agentDormant = (agentId: string) =>
  new DomainError('agent_dormant', 409, `Agent ${agentId} is dormant: wake it before it spawns.`);

export const spawnLimitReached = (limit: 'depth' | 'children', max: number) =>
  new DomainError(
    'spawn_limit_reached',
    409,
    limit === 'depth'
      ? `A child would be deeper than generation ${max}, the economy's maximum depth.`
      : `An agent may spawn at most ${max} children.`,
    { limit, max },
  );

export interface SpawnChild {
  agent_id: string;
  name: string;
  initial_balance: Micros;
  created_at: string;
}

export interface SpawnDecision {
  lineage: Lineage;
  movements: Movement[];
  /** Every event of the spawn, in commit order (the parent's and the child's). */
  events: Envelope[];
  /** Events added to the parent's sequence. */
  parentEvents: number;
  parentBalanceAfter: Micros;
}

/**
 * What a spawn that is not refused moves and emits. Throws nothing: call `spawnRefusal` first.
 * `burn` is the burn shard the fee goes to.
 */
export function decideSpawn(
  deps: { clock: Clock; ids: IdGenerator },
  parent: SpawnParent,
  child: SpawnChild,
  rules: SpawnRules,
  burn: string,
  ctx: EventContext,
): SpawnDecision {
  const at = child.created_at;
  const fee = rules.fee > 0 ? spawnFee(child.agent_id, parent.agent_id, burn, rules.fee, at) : undefined;
  const funding =
    child.initial_balance > 0 ? spawnFunding(child.agent_id, parent.agent_id, child.initial_balance, at) : undefined;
  const aggregate = agentAggregate(parent.agent_id);
  let seq = parent.seq;
  const ofParent = { agent_id: parent.agent_id, aggregate };
  const moved = (m: Movement) => transferredEvent(deps, m.record, ctx, { ...ofParent, sequence: ++seq });
  const lineage = childLineage(parent.agent_id, parent.lineage);
  const registered = makeEvent(
    deps,
    {
      type: 'agent_registered',
      agent_id: child.agent_id,
      aggregate: agentAggregate(child.agent_id),
      sequence: 1,
      data: {
        agent_id: child.agent_id,
        name: child.name,
        initial_balance: formatCredits(child.initial_balance),
        parent_id: parent.agent_id,
      },
    },
    ctx,
  );
  const events = [...(fee ? [moved(fee)] : []), registered, ...(funding ? [moved(funding)] : [])];
  events.push(
    makeEvent(
      deps,
      {
        type: 'agent_spawned',
        ...ofParent,
        sequence: ++seq,
        data: {
          parent_id: parent.agent_id,
          child_id: child.agent_id,
          spawn_cost: formatCredits(rules.fee),
          initial_balance: formatCredits(child.initial_balance),
        },
      },
      ctx,
    ),
  );
  return {
    lineage,
    movements: [...(fee ? [fee] : []), ...(funding ? [funding] : [])],
    events,
    parentEvents: seq - parent.seq,
    parentBalanceAfter: micros(parent.balance - rules.fee - child.initial_balance),
  };
}
