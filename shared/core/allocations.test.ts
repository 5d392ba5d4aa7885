import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AllocationRecord, allocationStatus, allocationView, notUsable, settleDraw } from './allocations.ts';

const T0 = Date.UTC(2026, 11, 1, 12);
const record = (over: Partial<AllocationRecord> = {}): AllocationRecord => ({
  allocation_id: 'al_1',
  bid_id: 'b_1',
  round: 'r',
  agent_id: 'a_1',
  payer_id: 'a_1',
  bundle: { tokens: 100 },
  duration_seconds: 60,
  rates: { cpu: 0, memory: 0, tokens: 0, attention: 0 },
  cost: 1_000_000,
  starts_at: new Date(T0).toISOString(),
  starts_at_ms: T0,
  ends_at: new Date(T0 + 60_000).toISOString(),
  ends_at_ms: T0 + 60_000,
  tokens_granted: 100,
  tokens_reserved: 10,
  tokens_used: 30,
  tokens_remaining: 60,
  status: 'active',
  ...over,
});

describe('allocation status', () => {
  it('is computed from the window, whatever was stored', () => {
    const a = record({ status: 'expired' });
    expect(allocationStatus(a, T0 - 1)).toBe('pending');
    expect(allocationStatus(a, T0)).toBe('active');
    expect(allocationStatus(a, T0 + 59_999)).toBe('active');
    expect(allocationStatus(record(), T0 + 60_000)).toBe('expired');
  });

  it('shows seconds left within [0, duration] and the token counts', () => {
    expect(allocationView(record(), T0 - 5_000).seconds_left).toBe(60);
    expect(allocationView(record(), T0 + 15_500).seconds_left).toBe(44.5);
    expect(allocationView(record(), T0 + 90_000)).toMatchObject({
      seconds_left: 0,
      status: 'expired',
      tokens: { granted: 100, reserved: 10, used: 30, remaining: 60 },
    });
  });

  it('refuses draws outside the window with 409 and says why', () => {
    expect(notUsable(record(), T0)).toBeUndefined();
    expect(notUsable(record(), T0 - 1)).toMatchObject({ status: 409, extensions: { allocation_status: 'pending' } });
    expect(notUsable(record(), T0 + 60_000)).toMatchObject({
      code: 'allocation_not_active',
      extensions: { allocation_status: 'expired' },
    });
  });
});

describe('settleDraw', () => {
  it('charges what was asked up to hold + remaining, releasing the rest, and keeps the budget', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(20_000), fc.nat(10_000), (reserved, wanted, remaining) => {
        const d = settleDraw(reserved, wanted, remaining);
        expect(d.charged).toBe(Math.min(wanted, reserved + remaining));
        expect(d.extra).toBeLessThanOrEqual(remaining);
        // Nothing is created or lost: the hold becomes charge from it plus release.
        expect(d.charged - d.extra + d.released).toBe(reserved);
        expect(Math.min(d.extra, d.released)).toBe(0);
      }),
    );
  });
});
