/** The settlement queue's sender: ten orders a request, refused entries sent again, bounded. */
import { describe, expect, it } from 'vitest';
import type { SettlementOrder } from '../../core/settlement.ts';
import { inParallel } from '../dynamodb/clearing.ts';
import { type SendBatch, settlementDispatch } from './settlement-queue.ts';

const order = (k: number): SettlementOrder => ({
  round: 'r',
  clearing_at_ms: 1,
  outcomes: [{ bid_id: `b${k}`, won: k % 2 === 0 }],
});

describe('settlementDispatch', () => {
  it('sends every order once, ten to a request, and again only what SQS refused', async () => {
    const seen: string[][] = [];
    let refuse = true;
    const send: SendBatch = async (entries) => {
      seen.push(entries.map((e) => (JSON.parse(e.MessageBody) as SettlementOrder).outcomes[0]?.bid_id ?? ''));
      const failed = refuse ? [entries[0]?.Id ?? ''] : [];
      refuse = false;
      return { failed };
    };
    await settlementDispatch(send)(Array.from({ length: 23 }, (_, k) => order(k)));
    expect(seen.map((s) => s.length)).toEqual([10, 1, 10, 3]);
    expect(seen[1]).toEqual(['b0']);
    expect(new Set(seen.flat()).size).toBe(23);
  });

  it('gives up after its attempts, so the clearing run fails and a later one resumes', async () => {
    const send: SendBatch = async (entries) => ({ failed: entries.map((e) => e.Id) });
    await expect(settlementDispatch(send, 3)([order(1)])).rejects.toThrow(/refused 1 orders 3 times/);
  });
});

describe('inParallel', () => {
  it('keeps at most the given number in flight and does every item', async () => {
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    await inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((ok) => setTimeout(ok, 5));
      done.push(i);
      inFlight--;
    });
    expect(most).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('starts nothing after a failure, lets the ones in flight finish, then throws the first error', async () => {
    const started: number[] = [];
    let finished = 0;
    const run = inParallel([1, 2, 3, 4, 5, 6], 2, async (i) => {
      started.push(i);
      if (i === 2) throw new Error('crash at 2');
      await new Promise((ok) => setTimeout(ok, 5));
      finished++;
    });
    await expect(run).rejects.toThrow('crash at 2');
    expect(started).toEqual([1, 2]);
    expect(finished).toBe(1);
  });
});
