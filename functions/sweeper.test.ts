import { describe, expect, it } from 'vitest';
import { makeHandler, type SweeperDeps } from './sweeper.ts';

function fakeDeps(stale: number[], clockStep = 0) {
  let now = 0;
  const calls: string[] = [];
  const deps: SweeperDeps = {
    clock: { now: () => (now += clockStep) },
    logger: { info: (msg: string) => void calls.push(msg) },
    pageSize: 10,
    budgetMs: 1_000,
    allocations: {
      reservations: {
        releaseStale: async (limit: number) => {
          calls.push(`release ${limit}`);
          return stale.shift() ?? 0;
        },
      } as unknown as SweeperDeps['allocations']['reservations'],
      expireEnded: async (limit: number) => {
        calls.push(`expire ${limit}`);
        return { examined: 3, expired: 2 };
      },
    },
  };
  return { deps, calls };
}

describe('sweeper', () => {
  it('releases stale holds page by page until none is left, then expires ended allocations once', async () => {
    const { deps, calls } = fakeDeps([10, 10, 4]);
    expect(await makeHandler(deps)()).toEqual({ released: 24, expired: 2 });
    expect(calls).toEqual(['release 10', 'release 10', 'release 10', 'release 10', 'expire 5000', 'swept']);
  });

  it('stops releasing when its time budget is spent', async () => {
    const { deps, calls } = fakeDeps([10, 10, 10, 10], 600);
    expect((await makeHandler(deps)()).released).toBe(20);
    expect(calls.filter((c) => c.startsWith('release'))).toHaveLength(2);
  });
});
