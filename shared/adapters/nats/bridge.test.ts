/**
 * The bridge target's order of work with the market state: publish first, then the state; a
 * failed state write fails the target (to be retried); poison still dead-letters afterwards.
 */
import { describe, expect, it } from 'vitest';
import { bridgeBusDetail } from './bridge.ts';
import { NatsUnavailableError, PoisonEventError } from './errors.ts';
import type { MarketStateReport } from './market-state.ts';
import type { PublishReport } from './publish.ts';

const event = (n: number) => ({ event_id: `ev_${n}`, type: 'price_update' });

function fakes(opts: { poison?: boolean; stateFails?: boolean; report?: MarketStateReport } = {}) {
  const calls: string[] = [];
  const bridge = {
    publish: async (events: readonly unknown[]): Promise<PublishReport> => {
      calls.push(`publish ${events.length}`);
      return {
        acks: events.map((_, i) => ({ event_id: `ev_${i}`, subject: 's', seq: i + 1, duplicate: false })),
        poison: opts.poison ? [{ index: 0, error: 'bad', event: null }] : [],
      };
    },
  };
  const marketState = {
    write: async (events: readonly unknown[]): Promise<MarketStateReport> => {
      calls.push(`market ${events.length}`);
      if (opts.stateFails) throw new NatsUnavailableError('kv down');
      return opts.report ?? { written: [{ key: 'round', revision: 3 }], kept: [] };
    },
  };
  return { calls, bridge, marketState };
}

describe('bridgeBusDetail with the market state', () => {
  const detail = { outbox_id: 'o_1', events: [event(1), event(2)] };

  it('publishes, then writes the state, and reports both', async () => {
    const { calls, bridge, marketState } = fakes();
    const report = await bridgeBusDetail(bridge, detail, marketState);
    expect(calls).toEqual(['publish 2', 'market 2']);
    expect(report.market).toEqual({ written: [{ key: 'round', revision: 3 }], kept: [] });
  });

  it('reports no state for events without price updates', async () => {
    const { bridge, marketState } = fakes({ report: { written: [], kept: [] } });
    expect((await bridgeBusDetail(bridge, detail, marketState)).market).toBeUndefined();
  });

  it('fails (to be retried) when the state cannot be written, after publishing', async () => {
    const { calls, bridge, marketState } = fakes({ stateFails: true });
    await expect(bridgeBusDetail(bridge, detail, marketState)).rejects.toBeInstanceOf(NatsUnavailableError);
    expect(calls).toEqual(['publish 2', 'market 2']);
  });

  it('writes the state of the valid events before dead-lettering the poison ones', async () => {
    const { calls, bridge, marketState } = fakes({ poison: true });
    await expect(bridgeBusDetail(bridge, detail, marketState)).rejects.toBeInstanceOf(PoisonEventError);
    expect(calls).toEqual(['publish 2', 'market 2']);
  });

  it('writes nothing for a bus event it cannot read', async () => {
    const { calls, bridge, marketState } = fakes();
    await expect(bridgeBusDetail(bridge, { events: 'no' }, marketState)).rejects.toBeInstanceOf(PoisonEventError);
    expect(calls).toEqual([]);
  });
});
