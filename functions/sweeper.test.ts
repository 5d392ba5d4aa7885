import { describe, expect, it } from 'vitest';
import { makeHandler, type SweeperDeps } from './sweeper.ts';

function fakeDeps(stale: number[], clockStep = 0, duePrompts: number[] = []) {
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
    prompts: {
      expireDue: async (limit: number) => {
        calls.push(`prompts ${limit}`);
        const expired = duePrompts.shift() ?? 0;
        return { examined: expired, expired };
      },
    },
  };
  return { deps, calls };
}

describe('sweeper', () => {
  it('releases stale holds page by page until none is left, then expires ended allocations once', async () => {
    const { deps, calls } = fakeDeps([10, 10, 4]);
    expect(await makeHandler(deps)()).toEqual({ released: 24, expired: 2, prompts_expired: 0 });
    expect(calls).toEqual([
      'release 10',
      'release 10',
      'release 10',
      'release 10',
      'expire 5000',
      'prompts 10',
      'swept',
    ]);
  });

  it('expires due prompts page by page after the allocations', async () => {
    const { deps, calls } = fakeDeps([], 0, [10, 3]);
    expect(await makeHandler(deps)()).toEqual({ released: 0, expired: 2, prompts_expired: 13 });
    expect(calls.filter((c) => c.startsWith('prompts'))).toEqual(['prompts 10', 'prompts 10', 'prompts 10']);
  });

  it('stops releasing when its time budget is spent', async () => {
    const { deps, calls } = fakeDeps([10, 10, 10, 10], 600);
    expect((await makeHandler(deps)()).released).toBe(20);
    expect(calls.filter((c) => c.startsWith('release'))).toHaveLength(2);
  });
});
