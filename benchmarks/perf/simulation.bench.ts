/**
 * In-process market simulation: 10 000 agents × 100 rounds (agent-rounds per second, median
 * of three runs after a warm-up), and how well prices settle under stationary demand with the
 * default tâtonnement and with a blend toward observed clearing prices, for comparison.
 */
import { parseEconomyConfig } from '#shared/core/market-config';
import { RESOURCES } from '#shared/core/resources';
import { relativeSpread, simulate } from '#shared/core/simulation';
import { type BenchResult, isMain, median, printTable, writeResult } from './run.ts';

const AGENTS = 10_000;
const ROUNDS = 100;
const RUNS = 3;

export async function run(): Promise<BenchResult> {
  simulate({ agents: 1000, rounds: 20, seed: 0 });
  const ms: number[] = [];
  let last: ReturnType<typeof simulate> | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    last = simulate({ agents: AGENTS, rounds: ROUNDS, seed: 1 });
    ms.push(performance.now() - t);
  }
  const medianMs = median(ms);
  const perSecond = (AGENTS * ROUNDS) / (medianMs / 1000);
  printTable(
    [
      {
        agents: AGENTS,
        rounds: ROUNDS,
        median_ms: medianMs,
        agent_rounds_per_s: Math.round(perSecond),
        bids: last?.bids ?? 0,
        winners: last?.winners ?? 0,
      },
    ],
    `Simulation (median of ${RUNS} runs)`,
  );

  // Settling: spread (max − min) ÷ mean of each price over the last 20 of 200 rounds.
  const cases = [
    { case: 'stationary, every agent bids, default pricing', activity: 1, blend: 0 },
    { case: 'stationary, 80% bid each round, default pricing', activity: 0.8, blend: 0 },
    { case: 'stationary, every agent bids, blend 0.2', activity: 1, blend: 0.2 },
  ];
  const settle = cases.map((c) => {
    const economy = parseEconomyConfig({ pricing: { blend: c.blend } });
    const res = simulate({ agents: 1000, rounds: 200, seed: 1, activity: c.activity, economy });
    const spreads = Object.fromEntries(RESOURCES.map((r) => [r, relativeSpread(res.price_series[r], 20)]));
    return { case: c.case, ...spreads, worst: Math.max(...Object.values(spreads)) };
  });
  printTable(settle, 'Price spread over the last 20 of 200 rounds (1 000 agents)');

  const result: BenchResult = {
    name: 'simulation',
    summary: { agent_rounds_per_s: Math.round(perSecond), settle_spread: settle[0]?.worst ?? Number.NaN },
    runs_ms: ms,
    settle,
  };
  writeResult('simulation', result);
  return result;
}

if (isMain(import.meta.url)) await run();
