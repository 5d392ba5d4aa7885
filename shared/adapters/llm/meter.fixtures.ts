/**
 * An in-memory `TokenMeter` with the contract of the DynamoDB one (refusals, the settle's draw
 * of at most the reservation plus what is left, settle-once), for unit tests of the gateway.
 */
import {
  type AllocationRecord,
  type LlmCallOutcome,
  notUsable,
  quotaExceeded,
  type Reservation,
  type TokenMeter,
} from '../../core/allocations.ts';
import { notFound } from '../../core/errors.ts';

export class MemoryMeter implements TokenMeter {
  readonly settled: { reservation: Reservation; call: LlmCallOutcome }[] = [];
  private readonly holds = new Map<string, Reservation>();

  constructor(
    readonly allocations: AllocationRecord[],
    private readonly now: () => number = () => Date.now(),
  ) {}

  async activeOf(agentId: string) {
    return this.allocations.filter((a) => a.agent_id === agentId && !notUsable(a, this.now()));
  }

  async get(id: string) {
    return this.allocations.find((a) => a.allocation_id === id);
  }

  async reserve(input: Omit<Reservation, 'created_at_ms'>) {
    const a = await this.get(input.allocation_id);
    if (!a || a.agent_id !== input.agent_id) throw notFound(`Allocation ${input.allocation_id}`);
    const refusal = notUsable(a, this.now());
    if (refusal) throw refusal;
    if (a.tokens_remaining < input.tokens) throw quotaExceeded(input.tokens, a.tokens_remaining);
    a.tokens_remaining -= input.tokens;
    a.tokens_reserved += input.tokens;
    const r = { ...input, created_at_ms: this.now() };
    this.holds.set(r.reservation_id, r);
    return { ...r, remaining: a.tokens_remaining };
  }

  async settle(reservation: Reservation, call: LlmCallOutcome) {
    const a = await this.get(reservation.allocation_id);
    if (!a) throw notFound('allocation');
    if (!this.holds.delete(reservation.reservation_id)) return { tokens_charged: 0, remaining: a.tokens_remaining };
    const drawn = Math.min(call.tokens_charged, reservation.tokens + a.tokens_remaining);
    a.tokens_reserved -= reservation.tokens;
    a.tokens_remaining += reservation.tokens - drawn;
    a.tokens_used += drawn;
    this.settled.push({ reservation, call: { ...call, tokens_charged: drawn } });
    return { tokens_charged: drawn, remaining: a.tokens_remaining };
  }
}

/** An allocation of `agentId` holding `tokens`, active for an hour around `nowMs`. */
export function allocationFixture(agentId: string, tokens: number, nowMs = Date.now()): AllocationRecord {
  return {
    allocation_id: `al_${agentId.padEnd(26, 'X').slice(0, 26)}`,
    agent_id: agentId,
    status: 'active',
    starts_at_ms: nowMs - 1000,
    starts_at: new Date(nowMs - 1000).toISOString(),
    ends_at_ms: nowMs + 3_600_000,
    ends_at: new Date(nowMs + 3_600_000).toISOString(),
    tokens_granted: tokens,
    tokens_reserved: 0,
    tokens_used: 0,
    tokens_remaining: tokens,
  } as AllocationRecord;
}
