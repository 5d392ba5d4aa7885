/**
 * The table-backed limiter against DynamoDB Local, with injected clocks: the bucket it keeps
 * per caller, shared by limiters that share the table (containers), the writes it makes per
 * request, its TTL, its bound on retries, and fail-open on a DynamoDB error.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { useTestTable } from '../../../test/harness/context.ts';
import type { Clock } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { TableRateLimiter, type TableRateLimiterOptions } from './rate-limiter.ts';

const table = useTestTable('rate-limiter');

function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock: Clock = { now: () => now };
  return {
    clock,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** The table, counting the calls made to it. */
function countingTable(): TableRef & { calls: () => number } {
  let calls = 0;
  const doc = table.client;
  const counted = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: Parameters<typeof doc.send>[0]) => {
        calls++;
        return doc.send(command);
      };
    },
  });
  return { doc: counted, tableName: table.tableName, calls: () => calls };
}

let callers = 0;
/** A caller of its own, so the tests share the table but no bucket. */
const newCaller = () => `caller-${Date.now()}-${callers++}`;

const limiter = (clock: Clock, opts: Partial<TableRateLimiterOptions> = {}, ref?: TableRef) =>
  new TableRateLimiter({
    table: ref ?? { doc: table.client, tableName: table.tableName },
    clock,
    ratePerSecond: 2,
    burst: 3,
    ...opts,
  });

const allowed = async (l: TableRateLimiter, caller: string, n: number) => {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await l.take(caller)).allowed);
  return out;
};

describe('TableRateLimiter', () => {
  it('allows a burst, refuses with Retry-After, refills from the elapsed time', async () => {
    const time = manualClock();
    const l = limiter(time.clock);
    const caller = newCaller();
    expect(await l.take(caller)).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetSeconds: 1,
      retryAfterSeconds: 0,
    });
    expect(await allowed(l, caller, 3)).toEqual([true, true, false]);
    expect(await l.take(caller)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    time.advance(500);
    expect(await allowed(l, caller, 2)).toEqual([true, false]);
    time.advance(60_000);
    expect(await allowed(l, caller, 4)).toEqual([true, true, true, false]);
  });

  it('keeps one bucket per caller', async () => {
    const time = manualClock();
    const l = limiter(time.clock, { burst: 1 });
    const [a, b] = [newCaller(), newCaller()];
    expect(await allowed(l, a, 2)).toEqual([true, false]);
    expect(await allowed(l, b, 2)).toEqual([true, false]);
  });

  it('shares the bucket between limiters on one table, as containers do', async () => {
    const time = manualClock();
    const [one, two] = [limiter(time.clock), limiter(time.clock)];
    const caller = newCaller();
    expect(await allowed(one, caller, 2)).toEqual([true, true]);
    // The other container has never seen this caller: one token is left, not a fresh burst.
    expect(await allowed(two, caller, 2)).toEqual([true, false]);
    expect(await allowed(one, caller, 1)).toEqual([false]);
    time.advance(500);
    expect(await allowed(one, caller, 1)).toEqual([true]);
    expect(await allowed(two, caller, 1)).toEqual([false]);
  });

  it('lets no more than the burst through when containers race', async () => {
    const time = manualClock();
    const limiters = Array.from({ length: 6 }, () => limiter(time.clock, { burst: 5 }));
    const caller = newCaller();
    const decisions = await Promise.all(limiters.flatMap((l) => [l.take(caller), l.take(caller), l.take(caller)]));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
  });

  it('costs one conditional write per allowed request, and nothing for a certain refusal', async () => {
    const time = manualClock();
    const ref = countingTable();
    const l = limiter(time.clock, { burst: 3 }, ref);
    const caller = newCaller();
    expect(await allowed(l, caller, 3)).toEqual([true, true, true]);
    expect(ref.calls()).toBe(3);
    // The bucket this container wrote last is empty: a refusal it knows without asking.
    expect(await allowed(l, caller, 5)).toEqual([false, false, false, false, false]);
    expect(ref.calls()).toBe(3);
    time.advance(500);
    expect(await allowed(l, caller, 1)).toEqual([true]);
    expect(ref.calls()).toBe(4);
    // Idle long enough to be full again: the refill form, still one write.
    time.advance(10_000);
    expect(await allowed(l, caller, 1)).toEqual([true]);
    expect(ref.calls()).toBe(5);
  });

  it('writes the item with a TTL past the moment its bucket is full again', async () => {
    const time = manualClock();
    const l = limiter(time.clock, { ratePerSecond: 1, burst: 4, ttlGraceSeconds: 60 });
    const caller = newCaller();
    await allowed(l, caller, 3);
    const out = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: keys.rateLimit(caller), ConsistentRead: true }),
    );
    const now = time.clock.now();
    expect(out.Item).toMatchObject({ kind: 'rate_limit', tat: (now + 3_000) * 1000 });
    expect(out.Item?.expires_at).toBeGreaterThanOrEqual(Math.ceil((now + 3_000) / 1000) + 60);
    // Not far beyond: idle callers do vanish.
    expect(out.Item?.expires_at).toBeLessThanOrEqual(Math.ceil((now + 4_000) / 1000) + 60);
  });

  it('bounds its writes when every condition fails, and refuses', async () => {
    const time = manualClock();
    let sends = 0;
    const l = limiter(
      time.clock,
      { maxAttempts: 3 },
      {
        tableName: 'unused',
        doc: {
          send: async (command: { input: { ConditionExpression?: string } }) => {
            sends++;
            const { ConditionalCheckFailedException } = await import('@aws-sdk/client-dynamodb');
            // The stored bucket flips between the two forms' failures, as racing writers could make it.
            const tat = command.input.ConditionExpression?.startsWith('attribute_not_exists')
              ? (time.clock.now() + 100) * 1000
              : (time.clock.now() - 100) * 1000;
            throw new ConditionalCheckFailedException({
              message: 'The conditional request failed',
              $metadata: {},
              Item: { tat: { N: String(tat) } },
            });
          },
        } as unknown as TableRef['doc'],
      },
    );
    expect(await l.take(newCaller())).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    expect(sends).toBe(3);
  });

  it('fails open on a DynamoDB error, and says so', async () => {
    const time = manualClock();
    const errors: unknown[] = [];
    const l = limiter(
      time.clock,
      { onError: (e) => errors.push(e) },
      {
        doc: table.client,
        tableName: 'no-such-table',
      },
    );
    const decision = await l.take('someone');
    expect(decision.allowed).toBe(true);
    expect(decision.limit).toBe(3);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).name).toBe('ResourceNotFoundException');
  });

  it('refuses options that describe no limiter', () => {
    const time = manualClock();
    expect(() => limiter(time.clock, { maxAttempts: 0 })).toThrow(RangeError);
    expect(() => limiter(time.clock, { burst: 0 })).toThrow(RangeError);
  });
});
