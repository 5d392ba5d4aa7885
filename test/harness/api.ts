/**
 * An API under test: the local stack of stack.ts (table, configuration, services, the real
 * handlers and authorizer behind the local HTTP server, optionally the event pipeline) and a
 * small client that speaks to it over HTTP. The ledger audit runs after every test of a file
 * that uses it.
 */
import { expect } from 'vitest';
import { auditLedger, scanKinds } from '#shared/adapters/dynamodb/audit';
import { TEST_OPERATOR_KEY } from './context.ts';
import { type StackOptions, type TestStack, useStack } from './stack.ts';

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field in tests
  body: any;
  text: string;
}

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  /** Sent verbatim (not JSON-encoded) when given. */
  raw?: string;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

export interface ApiHarness extends TestStack {
  operatorKey: string;
  call(method: string, path: string, opts?: CallOptions): Promise<ApiResponse>;
  /** Registers an agent through the API; returns its id and key. */
  agent(name: string, initialBalance: number): Promise<{ id: string; key: string }>;
  /**
   * Wins an allocation for `agent`: places the bid, waits for its round to close, clears it and
   * returns the won bid's allocation id (the stack's rounds are short wall-clock windows).
   */
  won(
    agent: { key: string },
    bid: { bundle: Record<string, number>; duration_seconds: number; amount: number },
  ): Promise<string>;
  /** Runs the ledger audit and fails the test on any problem. */
  expectAuditClean(): Promise<void>;
  /** Items of the given kinds, for "nothing was written" checks. */
  snapshot(kinds?: string[]): Promise<string>;
}

export function useApi(prefix: string, options: StackOptions = {}): ApiHarness {
  const stack = useStack(prefix, options);

  const harness: ApiHarness = {
    get url() {
      return stack.url;
    },
    get table() {
      return stack.table;
    },
    get config() {
      return stack.config;
    },
    get services() {
      return stack.services;
    },
    get pipeline() {
      return stack.pipeline;
    },
    operatorKey: TEST_OPERATOR_KEY,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const key = opts.key === undefined ? TEST_OPERATOR_KEY : opts.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(`${stack.url}${path}`, { method, headers, ...(body !== undefined && { body }) });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async agent(name, initialBalance) {
      const res = await harness.call('POST', '/v1/agents', {
        body: { name: `${name}`, initial_balance: initialBalance },
      });
      expect(res.status, res.text).toBe(201);
      return { id: res.body.agent_id as string, key: res.body.api_key as string };
    },
    async won(agent, bid) {
      const placed = await harness.call('POST', '/v1/bids', {
        key: agent.key,
        idempotencyKey: `won-${Math.random().toString(36).slice(2)}`,
        body: bid,
      });
      expect(placed.status, placed.text).toBe(201);
      const wait = Date.parse(placed.body.round_closes_at) - Date.now() + 20;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const cleared = await harness.call('POST', '/v1/rounds/clear');
      expect(cleared.status, cleared.text).toBe(200);
      const after = await harness.call('GET', `/v1/bids/${placed.body.bid_id}`, { key: agent.key });
      expect(after.body, after.text).toMatchObject({ status: 'won' });
      return after.body.allocation_id as string;
    },
    async expectAuditClean() {
      const report = await auditLedger({ client: harness.table.client, tableName: harness.table.tableName });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.totals.sum_of_balances).toBe(0);
      // Minted by source and burned by purpose add up to the totals.
      const { minted, burned } = report.supply;
      expect(minted.agent_grant + minted.human_reward).toBe(report.totals.minted);
      expect(burned.resource_burn + burned.spawn_fee).toBe(report.totals.burned);
    },
    async snapshot(kinds = ['account', 'entry', 'transfer', 'agent', 'outbox']) {
      const items = await scanKinds(harness.table.client, harness.table.tableName, kinds);
      return JSON.stringify(items.map((i) => `${String(i.PK)}|${String(i.SK)}|${String(i.version ?? '')}`).sort());
    },
  };
  return harness;
}
