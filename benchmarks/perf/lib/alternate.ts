/**
 * Latency of several "sides" of one operation measured in the same run: the sides take turns
 * in blocks, one call at a time, so the drift of a shared DynamoDB Local (the table grows, the
 * machine's load changes) falls on all of them alike.
 */
import { median } from '../run.ts';

export type Side<A> = (actor: A, n: number) => Promise<void>;

const BLOCK = 25;

/** Runs `count` calls of every side, in alternating blocks; `n` numbers calls from `offset`. */
export async function alternate<A, K extends string>(
  sides: Record<K, Side<A>>,
  actors: readonly A[],
  count: number,
  offset = 0,
): Promise<Record<K, number[]>> {
  const out = Object.fromEntries(Object.keys(sides).map((k) => [k, [] as number[]])) as Record<K, number[]>;
  let n = offset;
  for (let done = 0; done < count; done += BLOCK) {
    for (const name of Object.keys(sides) as K[]) {
      for (let k = 0; k < Math.min(BLOCK, count - done); k++) {
        const actor = actors[(done + k) % actors.length] as A;
        const t = performance.now();
        await sides[name](actor, n++);
        out[name].push(performance.now() - t);
      }
    }
  }
  return out;
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

/** One row per side: calls and p50, p95, p99 in ms. */
export function latencyRows(measured: Record<string, number[]>) {
  return Object.entries(measured).map(([what, latencies]) => {
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      what,
      calls: sorted.length,
      p50: median(sorted),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
    };
  });
}
