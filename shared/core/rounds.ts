/**
 * Rounds are fixed windows of `round_seconds`. A round is named by the epoch second of its
 * start (`r_1764158400`), so every component derives the same round from the same clock.
 */

export interface RoundWindow {
  round: string;
  starts_at_ms: number;
  closes_at_ms: number;
}

export function roundAt(nowMs: number, roundSeconds: number): RoundWindow {
  const len = roundSeconds * 1000;
  const start = Math.floor(nowMs / len) * len;
  return { round: `r_${start / 1000}`, starts_at_ms: start, closes_at_ms: start + len };
}

export function roundStartMs(round: string): number {
  const m = /^r_(\d{1,12})$/.exec(round);
  if (!m?.[1]) throw new RangeError(`not a round id: ${round}`);
  return Number(m[1]) * 1000;
}

export const isRoundId = (s: string) => /^r_\d{1,12}$/.test(s);

/**
 * Windows that have closed since `afterStartMs` (exclusive) up to `nowMs`, oldest first, at
 * most `max` of them (the most recent): the catch-up after downtime.
 */
export function closedWindowsSince(afterStartMs: number | undefined, nowMs: number, roundSeconds: number, max: number) {
  const current = roundAt(nowMs, roundSeconds);
  const len = roundSeconds * 1000;
  const last = current.starts_at_ms - len;
  const first = afterStartMs === undefined ? last : afterStartMs + len;
  const from = Math.max(first, last - (max - 1) * len);
  const out: RoundWindow[] = [];
  for (let s = from; s <= last; s += len) out.push(roundAt(s, roundSeconds));
  return out;
}
