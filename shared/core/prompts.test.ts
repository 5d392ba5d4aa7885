import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AllocationRecord } from './allocations.ts';
import { ECONOMY_DEFAULTS, parseEconomyConfig } from './market-config.ts';
import { type Micros, micros } from './money.ts';
import {
  attentionBid,
  decidedKey,
  mintCeilingExceeded,
  mintHour,
  newPrompt,
  promptIdOf,
  promptStatus,
  queueKey,
  rewardAmount,
  rewardRefusal,
  submissionRefusal,
} from './prompts.ts';

const NOW = Date.parse('2026-12-02T07:30:00.000Z');

function allocation(over: Partial<AllocationRecord> = {}): AllocationRecord {
  return {
    allocation_id: 'al_AAAAAAAAAAAAAAAAAAAAAAAAAA',
    bid_id: 'b_x',
    round: 'r_1',
    agent_id: 'a_1',
    payer_id: 'a_1',
    bundle: { attention: 0.5 },
    duration_seconds: 60,
    rates: {},
    cost: 5_000_000,
    starts_at: new Date(NOW - 1_000).toISOString(),
    starts_at_ms: NOW - 1_000,
    ends_at: new Date(NOW + 59_000).toISOString(),
    ends_at_ms: NOW + 59_000,
    tokens_granted: 0,
    tokens_reserved: 0,
    tokens_used: 0,
    tokens_remaining: 0,
    status: 'active',
    ...over,
  } as AllocationRecord;
}

describe('who may prompt', () => {
  it('an active allocation of the caller with attention, and nothing else', () => {
    expect(submissionRefusal(allocation(), 'a_1', NOW)).toBeUndefined();
    expect(submissionRefusal(allocation(), 'a_2', NOW)).toMatchObject({ code: 'not_found', status: 404 });
    expect(submissionRefusal(allocation({ bundle: { cpu: 1 } }), 'a_1', NOW)).toMatchObject({
      code: 'attention_required',
      status: 403,
    });
    expect(submissionRefusal(allocation(), 'a_1', NOW + 59_000)).toMatchObject({
      code: 'allocation_not_active',
      extensions: { allocation_status: 'expired' },
    });
  });

  it('one prompt per allocation: its id derives from the allocation', () => {
    expect(newPrompt({ allocation_id: 'x', content: 'a', format: 'text' }, allocation(), NOW, 60).prompt_id).toBe(
      promptIdOf('al_AAAAAAAAAAAAAAAAAAAAAAAAAA'),
    );
  });
});

describe("the human's queue", () => {
  it('prices attention per attention-second', () => {
    // 5 credits for half the human for 60 s: 5 ÷ 30 attention-seconds.
    expect(attentionBid(micros(5_000_000), 0.5, 60).price).toBeCloseTo(0.166667, 6);
  });

  it('orders by attention bid, highest first, then oldest, then id — exactly, whatever the numbers', () => {
    const arb = fc.record({
      paid: fc.integer({ min: 1, max: 1_000_000_000_000_000 }),
      quanta: fc.integer({ min: 1, max: 10_000 }),
      duration_seconds: fc.integer({ min: 1, max: 3_600 }),
      created_at_ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
      n: fc.integer({ min: 0, max: 999 }),
    });
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const key = (x: typeof a) =>
          queueKey({
            paid: x.paid as Micros,
            attention: x.quanta / 10_000,
            duration_seconds: x.duration_seconds,
            created_at_ms: x.created_at_ms,
            prompt_id: `pr_${String(x.n).padStart(3, '0')}`,
          });
        // Exact comparison of paid ÷ (quanta × duration) by cross-multiplication.
        const lhs = BigInt(a.paid) * BigInt(b.quanta * b.duration_seconds);
        const rhs = BigInt(b.paid) * BigInt(a.quanta * a.duration_seconds);
        const [ka, kb] = [key(a), key(b)];
        // The key floors at 1e-12 µcr per quantum-second: bids closer than that tie on age.
        if (lhs > rhs && lhs - rhs > rhs / 1_000_000_000n) expect(ka < kb).toBe(true);
        if (lhs === rhs && a.created_at_ms < b.created_at_ms) expect(ka < kb).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('lists decided prompts by time', () => {
    expect(decidedKey(2, 'pr_a') > decidedKey(1, 'pr_b')).toBe(true);
  });

  it('a pending prompt past its time is expired, whatever is stored', () => {
    expect(promptStatus({ status: 'pending', expires_at_ms: NOW }, NOW - 1)).toBe('pending');
    expect(promptStatus({ status: 'pending', expires_at_ms: NOW }, NOW)).toBe('expired');
    expect(promptStatus({ status: 'rewarded', expires_at_ms: NOW }, NOW + 1)).toBe('rewarded');
  });
});

describe('rewards', () => {
  const p = { prompt_id: 'pr_1', expires_at: 'then', expires_at_ms: NOW };

  it('mint the weighted sum of the scores, exactly in micro-credits', () => {
    const scores = { interesting: 7, useful: 5, understandable: 9 };
    expect(rewardAmount(scores, ECONOMY_DEFAULTS.rewards)).toBe(210_000_000);
    const weights = parseEconomyConfig({ rewards: { w_i: 0.1, w_u: 1.005, w_n: 0 } }).rewards;
    // 0.7 + 5.025 + 0: no float drift (1.005 × 1e6 is 1004999.99… in floats).
    expect(rewardAmount(scores, weights)).toBe(5_725_000);
  });

  it('refuse weights that are not exact credits', () => {
    expect(() => parseEconomyConfig({ rewards: { w_i: 0.0000001 } })).toThrow();
  });

  it('happen once, and only in time', () => {
    expect(rewardRefusal({ ...p, status: 'pending' }, NOW - 1)).toBeUndefined();
    expect(rewardRefusal({ ...p, status: 'pending' }, NOW)).toMatchObject({ code: 'prompt_expired', status: 409 });
    expect(rewardRefusal({ ...p, status: 'rewarded' }, NOW - 1)).toMatchObject({
      code: 'prompt_already_rewarded',
      status: 409,
    });
  });
});

describe('the hourly mint ceiling', () => {
  it('counts in UTC hours and says when the next one starts', () => {
    expect(mintHour(NOW)).toEqual({
      hour: '2026-12-02T07',
      endsAtMs: Date.parse('2026-12-02T08:00:00.000Z'),
      retryAfterSeconds: 1_800,
    });
  });

  it('refuses with 429, what was asked, what is left and Retry-After', () => {
    const e = mintCeilingExceeded(micros(500_000_000), micros(300_000_000), micros(300_000_000), NOW);
    expect(e).toMatchObject({
      code: 'mint_ceiling_exceeded',
      status: 429,
      retryAfter: 1_800,
      extensions: { ceiling: 500, requested: 300, minted_this_hour: 300, window_ends_at: '2026-12-02T08:00:00.000Z' },
    });
  });
});
