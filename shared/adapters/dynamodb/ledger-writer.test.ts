/**
 * The ledger writer's translation of a ledger change, action by action: the conditions it puts
 * on each account and how it reads a failed condition back into a business outcome. (The
 * integration tests run the same actions against DynamoDB Local.)
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.ts';
import type { Micros } from '../../core/money.ts';
import { grant, hold, ledgerChange, transfer, voidHold } from '../../core/movements.ts';
import { AccountLocks } from './account-locks.ts';
import { LedgerWriter, replayOrConflict } from './ledger-writer.ts';
import type { TxAction } from './transaction.ts';

const AT = '2026-01-01T00:00:00.000Z';
const m = (n: number) => n as Micros;
const writer = new LedgerWriter('t', { maxMinted: 1_000, maxBalance: 500 });
const never = () => ({ kind: 'retry' as const });

const update = (a: TxAction<unknown> | undefined) => a?.item.Update;
/** The one action writing account `id` (entries live in the account's partition too). */
const accountAction = (actions: TxAction<unknown>[], id: string) =>
  actions.find((a) => /^(account|debit|credit|open) /.test(a.label) && a.label.endsWith(` ${id}`));

describe('the ledger writer', () => {
  it('writes a guard and two entries per movement and one update per account', () => {
    const actions = writer.actions(ledgerChange([transfer('t1', 'a_1', 'a_2', m(5), AT)]), never);
    expect(actions.map((a) => a.label)).toEqual([
      'transfer guard t1',
      'debit entry t1',
      'credit entry t1',
      'account a_1',
      'account a_2',
    ]);
  });

  it('conditions a debit on the balance at commit time, with no read needed', () => {
    const actions = writer.actions(ledgerChange([hold('b1', 'a_1', 'escrow#01', m(7), AT)]), never);
    const debit = update(accountAction(actions, 'a_1'));
    expect(debit?.ConditionExpression).toBe('attribute_exists(PK) AND balance >= :amt');
    expect(debit?.ExpressionAttributeValues).toMatchObject({ ':amt': 7, ':balance': -7 });
    const escrow = update(accountAction(actions, 'escrow#01'));
    expect(escrow?.ConditionExpression).toBeUndefined();
  });

  it('bounds earnings by the balance ceiling, but never a refund of the agent’s own credits', () => {
    const earned = update(
      accountAction(writer.actions(ledgerChange([transfer('t', 'a_1', 'a_2', m(5), AT)]), never), 'a_2'),
    );
    expect(earned?.ConditionExpression).toBe('attribute_exists(PK) AND balance <= :room');
    expect(earned?.ExpressionAttributeValues).toMatchObject({ ':room': 495 });
    const refund = update(
      accountAction(writer.actions(ledgerChange([voidHold('b', 'a_2', 'escrow#01', m(5), AT)]), never), 'a_2'),
    );
    expect(refund?.ConditionExpression).toBe('attribute_exists(PK)');
  });

  it('lets mint go negative only down to minus the money-supply ceiling', () => {
    const actions = writer.actions(ledgerChange([transfer('g', 'mint', 'a_1', m(300), AT)]), never);
    const mint = update(accountAction(actions, 'mint'));
    expect(mint?.ConditionExpression).toBe('attribute_not_exists(balance) OR balance >= :floor');
    expect(mint?.ExpressionAttributeValues?.[':floor']).toBe(-700);
    const refused = accountAction(actions, 'mint')?.onConditionFailed?.({ balance: -900 });
    expect(refused).toMatchObject({ kind: 'fail', error: { code: 'money_supply_exhausted', status: 409 } });
    expect(() => writer.actions(ledgerChange([transfer('g2', 'mint', 'a_1', m(1_001), AT)]), never)).toThrow(
      DomainError,
    );
  });

  it('reads a failed agent condition back: missing, moved on, short, over the ceiling, too many bids', () => {
    const change = ledgerChange(
      [hold('b1', 'a_1', 'escrow#01', m(10), AT)],
      [{ account_id: 'a_1', open_bids: 1, open_bids_cap: 3, lock: { kind: 'sequence', seq: 4 } }],
    );
    const action = accountAction(writer.actions(change, never), 'a_1');
    const failed = (old?: Record<string, unknown>) => action?.onConditionFailed?.(old);
    expect(update(action)?.ConditionExpression).toBe(
      'attribute_exists(PK) AND seq = :seq0 AND balance >= :amt AND (attribute_not_exists(open_bids) OR open_bids <= :bids_room)',
    );
    expect(failed(undefined)).toMatchObject({ kind: 'fail', error: { code: 'not_found' } });
    expect(failed({ seq: 5, balance: 100 })).toEqual({ kind: 'retry' });
    expect(failed({ seq: 4, balance: 9 })).toMatchObject({
      kind: 'fail',
      error: { code: 'insufficient_balance', extensions: { required: 0.00001, available: 0.000009 } },
    });
    expect(failed({ seq: 4, balance: 50, open_bids: 3 })).toMatchObject({
      kind: 'fail',
      error: { code: 'too_many_open_bids' },
    });
  });

  it('opens a registered agent’s account with its grant credited, and refuses numbering events without a lock', () => {
    const change = ledgerChange([grant('a_new', m(40), AT)], [{ account_id: 'a_new', seq: 2, opened_at: AT }]);
    const open = accountAction(writer.actions(change, never), 'a_new')?.item.Put;
    expect(open?.Item).toMatchObject({ balance: 40, total_in: 40, seq: 2, version: 1, open_bids: 0 });
    expect(open?.ConditionExpression).toBe('attribute_not_exists(PK)');
    expect(() => writer.actions(ledgerChange([], [{ account_id: 'a_1', seq: 1 }]), never)).toThrow(/need a lock/);
  });

  it('tells a replay from a conflict by the guard that exists', () => {
    const onExists = replayOrConflict(() => 'replayed');
    const record = transfer('t9', 'a_1', 'a_2', m(5), AT).record;
    expect(onExists({ ...record, created_at: 'earlier' }, record)).toEqual({ kind: 'done', result: 'replayed' });
    expect(onExists({ ...record, amount: m(6) }, record)).toMatchObject({ kind: 'fail', error: { code: 'conflict' } });
  });
});

describe('per-account serialization', () => {
  it('runs writers of one account one at a time, others in parallel, and leaks no key', async () => {
    const locks = new AccountLocks();
    const log: string[] = [];
    const job = (name: string, keys: string[], ms: number) =>
      locks.with(keys, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([job('A', ['x'], 20), job('B', ['x', 'y'], 1), job('C', ['z'], 1), job('D', ['y', 'x'], 1)]);
    // A holds x: B and D (which need x) wait for it, in arrival order; C runs beside A.
    expect(log.indexOf('A-')).toBeLessThan(log.indexOf('B+'));
    expect(log.indexOf('B-')).toBeLessThan(log.indexOf('D+'));
    expect(log.indexOf('C-')).toBeLessThan(log.indexOf('A-'));
    expect(locks.size).toBe(0);
  });

  it('releases a key when the holder fails', async () => {
    const locks = new AccountLocks();
    await expect(locks.with(['x'], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(locks.with(['x'], async () => 'next')).resolves.toBe('next');
    expect(locks.size).toBe(0);
  });
});
