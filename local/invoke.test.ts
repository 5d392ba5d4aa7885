/**
 * `npm run invoke`: its command line, and the sample events of `events/` (one per function,
 * each an event its function accepts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { makeHandler as outboxRelay } from '#functions/outbox-relay';
import { applyClearedRounds } from '#functions/price-update';
import { validateEnvelope } from '#shared/core/events';
import { HTTP_FUNCTIONS, ROUTES, routeKey } from '#shared/http/routes';
import { FUNCTION_NAMES, InvokeUsageError, parseInvokeArgs } from './invoke.ts';

const ROOT = new URL('../', import.meta.url);
const sample = (name: string) => JSON.parse(readFileSync(new URL(`events/${name}.json`, ROOT), 'utf8'));

describe('parseInvokeArgs', () => {
  const env = { DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' };

  it('points the handler at the local stack: endpoint and table from flags over the environment', () => {
    const parsed = parseInvokeArgs(['http/health', 'events/health.json', '--table', 't1'], env);
    expect(parsed).toMatchObject({ fn: 'health', eventPath: 'events/health.json' });
    expect(parsed.env).toMatchObject({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000', TABLE_NAME: 't1' });
    const flagged = parseInvokeArgs(['clearing', 'e.json', '--endpoint', 'http://localhost:9'], {});
    expect(flagged.env).toMatchObject({ DYNAMODB_ENDPOINT: 'http://localhost:9', TABLE_NAME: 'syntropism' });
  });

  it.each([
    [[], 'Usage'],
    [['clearing'], 'Usage'],
    [['nope', 'e.json'], 'unknown function "nope"'],
    [['clearing', 'e.json', 'extra'], 'Usage'],
    [['clearing', 'e.json', '--force'], "Unknown option '--force'"],
  ])('refuses %j', (args, message) => {
    expect(() => parseInvokeArgs(args, env)).toThrow(InvokeUsageError);
    expect(() => parseInvokeArgs(args, env)).toThrow(message);
  });

  it('asks for the endpoint rather than invoking against AWS by accident', () => {
    expect(() => parseInvokeArgs(['clearing', 'e.json'], {})).toThrow(/--endpoint/);
  });
});

describe('events/', () => {
  it('holds one sample per function, and nothing else', () => {
    const functionsDir = fileURLToPath(new URL('functions/', ROOT));
    const entries = readdirSync(functionsDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => f.replace(/^http\//, '').replace(/\.ts$/, ''));
    const samples = readdirSync(fileURLToPath(new URL('events/', ROOT))).map((f) => f.replace(/\.json$/, ''));
    expect(samples.sort()).toEqual(entries.sort());
    expect([...FUNCTION_NAMES].sort()).toEqual(entries.sort());
  });

  it('outbox-relay: stream records of outbox inserts, each readable', async () => {
    const error = vi.fn();
    const entries = await outboxRelay({ logger: { error } })(sample('outbox-relay'));
    expect(entries).toHaveLength(2);
    expect(error).not.toHaveBeenCalled();
    for (const entry of entries) for (const event of entry.detail.events) validateEnvelope(event);
  });

  it('price-update: a bus event with an auction_cleared the market applies', async () => {
    const applyRound = vi.fn(async () => [{}]);
    expect(await applyClearedRounds({ market: { applyRound } as never }, sample('price-update').detail)).toBe(1);
  });

  it.each(['event-log', 'nats-bridge'])('%s: a bus event of valid envelopes', (name) => {
    const event = sample(name);
    expect(event['detail-type']).toBeTruthy();
    expect(event.detail.events.length).toBeGreaterThan(0);
    for (const envelope of event.detail.events) validateEnvelope(envelope);
  });

  it.each([...HTTP_FUNCTIONS])('%s: an API Gateway v2 request of one of its routes', (fn) => {
    const event = sample(fn);
    expect(event.version).toBe('2.0');
    const route = ROUTES.find((r) => routeKey(r) === event.routeKey);
    expect(route?.fn).toBe(fn);
    expect(event.requestContext.http.method).toBe(route?.method);
  });

  it('llm-stream: a function URL event of a gateway route', () => {
    const event = sample('llm-stream');
    expect(event.routeKey).toBe('$default');
    const key = `${event.requestContext.http.method} ${event.rawPath}`;
    expect(ROUTES.find((r) => routeKey(r) === key)?.fn).toBe('llm');
  });

  it('authorizer: a REQUEST authorizer event with its identity source', () => {
    const event = sample('authorizer');
    expect(event.type).toBe('REQUEST');
    expect(event.identitySource).toEqual([event.headers.authorization]);
  });
});
