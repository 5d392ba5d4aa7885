/**
 * Agents: registration (agent + account + minted grant + events, one transaction), profile
 * reads, voluntary state changes, and the `balance_queried` read event.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { newApiKey } from '../../core/api-keys.ts';
import { DomainError, notFound } from '../../core/errors.ts';
import type { Envelope, EventContext, EventDraft } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import { formatCredits, type Micros, micros } from '../../core/money.ts';
import {
  type AccountEffectInput,
  agentAggregate,
  grant,
  ledgerChange,
  transferredEvent,
} from '../../core/movements.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import { type AgentState, agentStateAction } from './agent-state.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';
import { type AccountItem, type AccountSnapshot, type Ledger, toSnapshot } from './ledger.ts';
import type { LedgerWriter } from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export type { AgentState };

export interface AgentItem {
  agent_id: string;
  name: string;
  state: AgentState;
  key_hash: string;
  parent_id: string | null;
  created_at: string;
  /** Lineage (spawned agents; items without it are roots: see `lineageOf` in core/spawning.ts). */
  ancestors?: string[];
  generation?: number;
  children_count?: number;
  /** A spawned agent's metadata, as the JSON text its parent gave. */
  metadata?: string;
  /** A spawned agent's funding (µcr), kept to tell a retried spawn from another one. */
  initial_balance?: number;
}

export interface AgentProfile extends Omit<AgentItem, 'key_hash'> {
  balance: Micros;
  total_in: Micros;
  total_out: Micros;
}

export interface AgentsDeps {
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  runtime: Runtime;
}

/** An agent item, consistently read: all the authorizer needs of the agents store. */
export async function readAgent(table: TableRef, agentId: string): Promise<AgentItem | undefined> {
  const out = await table.doc.send(
    new GetCommand({ TableName: table.tableName, Key: keys.agent(agentId), ConsistentRead: true }),
  );
  return out.Item as AgentItem | undefined;
}

export class Agents {
  constructor(private readonly deps: AgentsDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  get(agentId: string): Promise<AgentItem | undefined> {
    return readAgent(this.deps.table, agentId);
  }

  async profile(agentId: string): Promise<AgentProfile | undefined> {
    const [agent, account] = await Promise.all([this.get(agentId), this.deps.ledger.getAccount(agentId)]);
    if (!agent || !account) return undefined;
    const { key_hash: _hidden, ...rest } = agent;
    return {
      ...rest,
      balance: micros(account.balance),
      total_in: micros(account.total_in ?? 0),
      total_out: micros(account.total_out ?? 0),
    };
  }

  async list(opts: {
    limit: number;
    cursor?: string;
    caller: string;
  }): Promise<{ agents: AgentItem[]; next_cursor: string | null }> {
    const pages = listings.agents(opts.caller);
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI1',
        KeyConditionExpression: 'GSI1PK = :p',
        ExpressionAttributeValues: { ':p': 'AGENTS' },
        Limit: opts.limit,
        ExclusiveStartKey: pages.decode(opts.cursor),
      }),
    );
    return { agents: (out.Items ?? []) as AgentItem[], next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  /**
   * Registers an agent and mints its initial grant, atomically. Returns the API key, which is
   * never stored and cannot be shown again.
   */
  async register(
    input: { name: string; initial_balance: Micros; parent_id?: string },
    ctx: EventContext,
  ): Promise<{ agent: AgentItem; api_key: string; balance: Micros }> {
    const { runtime } = this.deps;
    const agentId = runtime.ids.next('a');
    const { apiKey, keyHash } = newApiKey(agentId, runtime.random);
    const now = runtime.clock.now();
    const createdAt = new Date(now).toISOString();
    const agent: AgentItem = {
      agent_id: agentId,
      name: input.name,
      state: 'active',
      key_hash: keyHash,
      parent_id: input.parent_id ?? null,
      created_at: createdAt,
    };
    const grantMovement = input.initial_balance > 0 ? grant(agentId, input.initial_balance, createdAt) : undefined;
    const aggregate = agentAggregate(agentId);
    const events = [
      makeEvent(
        runtime,
        {
          type: 'agent_registered',
          agent_id: agentId,
          aggregate,
          sequence: 1,
          data: { agent_id: agentId, name: input.name, initial_balance: formatCredits(input.initial_balance) },
        },
        ctx,
      ),
      ...(grantMovement
        ? [transferredEvent(runtime, grantMovement.record, ctx, { agent_id: agentId, aggregate, sequence: 2 })]
        : []),
    ];
    type R = { agent: AgentItem; api_key: string; balance: Micros };
    // The account is opened by the registration with its grant already credited: one
    // transaction may not write the same item twice.
    const change = ledgerChange(grantMovement ? [grantMovement] : [], [
      { account_id: agentId, seq: events.length, opened_at: createdAt },
    ]);
    return this.deps.tx.run<R>(`register ${agentId}`, async () => ({
      actions: [
        this.agentPut<R>(agent),
        ...this.deps.writer.actions<R>(change, () => ({ kind: 'fail', error: agentIdCollision() })),
        outboxAction<R>(this.tableName, events, now),
      ],
      result: () => ({ agent, api_key: apiKey, balance: input.initial_balance }),
    }));
  }

  private agentPut<R>(agent: AgentItem): TxAction<R> {
    return {
      label: 'agent exists',
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.agent(agent.agent_id), ...keys.agentsIndex(agent.agent_id), kind: 'agent', ...agent },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      onConditionFailed: () => ({ kind: 'fail', error: agentIdCollision() }),
    };
  }

  /** Voluntary state change by the agent itself: `agent_dormant` / `agent_awake`. */
  async setState(agentId: string, state: AgentState, ctx: EventContext): Promise<AgentProfile> {
    type R = AgentProfile;
    return this.deps.tx.run<R>(`state ${agentId}`, async () => {
      const [agent, account] = await Promise.all([this.get(agentId), this.deps.ledger.getAccount(agentId)]);
      if (!agent || !account) throw notFound(`Agent ${agentId}`);
      const { key_hash: _hidden, ...profile } = agent;
      const snap = toSnapshot(account);
      const totals = { total_in: micros(account.total_in ?? 0), total_out: micros(account.total_out ?? 0) };
      if (agent.state === state) return { done: { ...profile, ...totals, balance: snap.balance } };
      const now = this.deps.runtime.clock.now();
      const balance = formatCredits(snap.balance);
      const event =
        state === 'dormant'
          ? makeEvent(
              this.deps.runtime,
              {
                type: 'agent_dormant',
                agent_id: agentId,
                aggregate: agentAggregate(agentId),
                sequence: snap.seq + 1,
                data: { agent_id: agentId, final_balance: balance, reason: 'voluntary' },
              },
              ctx,
            )
          : makeEvent(
              this.deps.runtime,
              {
                type: 'agent_awake',
                agent_id: agentId,
                aggregate: agentAggregate(agentId),
                sequence: snap.seq + 1,
                data: { agent_id: agentId, awakened_by: 'self', current_balance: balance },
              },
              ctx,
            );
      return {
        actions: this.stateChange<R>(agentId, agent.state, state, snap, event, now),
        result: () => ({ ...profile, ...totals, state, balance: snap.balance }),
      };
    });
  }

  /**
   * Reads a balance and records `balance_queried`. The event is numbered in the agent's
   * sequence, so the balance it reports is exactly the one at that point of the history.
   */
  queryBalance(agentId: string, ctx: EventContext): Promise<Micros> {
    return this.recordInSequence(
      agentId,
      'balance',
      (snap) => ({ type: 'balance_queried', data: { agent_id: agentId, balance: formatCredits(snap.balance) } }),
      ctx,
      (snap) => snap.balance,
    );
  }

  /**
   * Publishes an agent's own event (`POST /v1/events`), numbered in the agent's sequence like
   * every event about it.
   */
  publish(agentId: string, draft: EventDraft, ctx: EventContext): Promise<Envelope> {
    return this.recordInSequence(
      agentId,
      'publish',
      () => draft,
      ctx,
      (_snap, event) => event,
    );
  }

  /** One event in the agent's sequence: a transaction of the account's lock and the outbox item. */
  private recordInSequence<R>(
    agentId: string,
    operation: string,
    draft: (snap: AccountSnapshot) => Omit<EventDraft, 'agent_id' | 'aggregate' | 'sequence'>,
    ctx: EventContext,
    result: (snap: AccountSnapshot, event: Envelope) => R,
  ): Promise<R> {
    return this.deps.tx.run<R>(`${operation} ${agentId}`, async () => {
      const account = await this.deps.ledger.getAccount(agentId);
      if (!account?.is_agent) throw notFound(`Agent ${agentId}`);
      const snap: AccountSnapshot = toSnapshot(account);
      const now = this.deps.runtime.clock.now();
      const event = makeEvent(
        this.deps.runtime,
        { ...draft(snap), agent_id: agentId, aggregate: agentAggregate(agentId), sequence: snap.seq + 1 } as EventDraft,
        ctx,
      );
      // The version lock: the balance the event reports is the balance at this point.
      const change = ledgerChange([], [sequenced(snap)]);
      return {
        actions: [
          ...this.deps.writer.actions<R>(change, () => ({ kind: 'retry' })),
          outboxAction<R>(this.tableName, [event], now),
        ],
        result: () => result(snap, event),
      };
    });
  }

  /**
   * Wakes a dormant agent on another's behalf (an allocation paid for it): `agent_awake` with
   * `awakened_by`. False when it was not dormant.
   */
  wake(agentId: string, by: string, ctx: EventContext, causationId?: string): Promise<boolean> {
    return this.transition(
      agentId,
      'active',
      ctx,
      (agent) => agent.state === 'dormant',
      (snap) => ({
        type: 'agent_awake',
        ...(causationId !== undefined && { causation_id: causationId }),
        data: { agent_id: agentId, awakened_by: by, current_balance: formatCredits(snap.balance) },
      }),
    );
  }

  /**
   * Puts an active agent with no credits and no open bid to sleep (`insufficient_credits`). The
   * account's version is part of the transaction, so a credit arriving meanwhile keeps it awake.
   */
  sleepIfBroke(agentId: string, ctx: EventContext): Promise<boolean> {
    return this.transition(
      agentId,
      'dormant',
      ctx,
      (agent, account) => agent.state === 'active' && account.balance === 0 && (account.open_bids ?? 0) === 0,
      () => ({
        type: 'agent_dormant',
        data: { agent_id: agentId, final_balance: 0, reason: 'insufficient_credits' },
      }),
    );
  }

  /** A state change the system makes, numbered in the agent's sequence under its account lock. */
  private transition(
    agentId: string,
    to: AgentState,
    ctx: EventContext,
    applies: (agent: AgentItem, account: AccountItem) => boolean,
    draft: (snap: AccountSnapshot) => Omit<EventDraft, 'agent_id' | 'aggregate' | 'sequence'>,
  ): Promise<boolean> {
    return this.deps.tx.run<boolean>(`${to} ${agentId}`, async () => {
      const [agent, account] = await Promise.all([this.get(agentId), this.deps.ledger.getAccount(agentId)]);
      if (!agent || !account || !applies(agent, account)) return { done: false };
      const snap = toSnapshot(account);
      const event = makeEvent(
        this.deps.runtime,
        { ...draft(snap), agent_id: agentId, aggregate: agentAggregate(agentId), sequence: snap.seq + 1 } as EventDraft,
        ctx,
      );
      return {
        actions: this.stateChange<boolean>(agentId, agent.state, to, snap, event, this.deps.runtime.clock.now()),
        result: () => true,
      };
    });
  }

  /**
   * The actions of one state change: the agent item moves `from` → `to` (a change meanwhile
   * replans), the account lock numbers the event in the agent's sequence, and the outbox has it.
   */
  private stateChange<R>(
    agentId: string,
    from: AgentState,
    to: AgentState,
    snap: AccountSnapshot,
    event: Envelope,
    now: number,
  ): TxAction<R>[] {
    return [
      agentStateAction<R>(this.tableName, agentId, from, to),
      ...this.deps.writer.actions<R>(ledgerChange([], [sequenced(snap)]), () => ({ kind: 'retry' })),
      outboxAction<R>(this.tableName, [event], now),
    ];
  }
}

/** One event in the agent's sequence, under the version read (its balance is reported). */
function sequenced(snap: AccountSnapshot): AccountEffectInput {
  return { account_id: snap.account_id, seq: 1, lock: { kind: 'version', version: snap.version } };
}

const agentIdCollision = () => new DomainError('conflict', 409, 'Agent id collision.');
