/**
 * The pure ledger rules: transfer validation, replay comparison, shard choice and the audit.
 * The audit is what every integration scenario relies on to prove the economy is sound, so it
 * is tested both ways: it must pass any ledger built by applying valid transfers, and it must
 * name each kind of corruption.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.ts';
import { TRANSFER_PURPOSES, type TransferPurpose } from './events.ts';
import {
  type AuditInput,
  assertValidTransfer,
  auditLedger,
  BURNING_PURPOSES,
  type Entry,
  entriesOf,
  MINT_ACCOUNT,
  MINTING_PURPOSES,
  sameTransfer,
  shardOf,
  type TransferRecord,
  type TransferRequest,
} from './ledger.ts';
import { MAX_MICROS, type Micros, micros } from './money.ts';

const AGENTS = ['a_1', 'a_2', 'a_3', 'a_4'];
const SYSTEM = ['escrow#0', 'escrow#1', 'burn#0', 'burn#1'];
const ALL = [MINT_ACCOUNT, ...AGENTS, ...SYSTEM];

function transfer(
  id: string,
  from: string,
  to: string,
  amount: number,
  extra: Partial<TransferRecord> = {},
): TransferRecord {
  return {
    transfer_id: id,
    from,
    to,
    amount: micros(amount),
    purpose: 'transfer',
    reference: null,
    created_at: '2026-11-26T12:00:00.000Z',
    ...extra,
  };
}

/** Builds a ledger the way the store does: balances moved by each transfer, two entries each. */
function build(transfers: TransferRecord[], accounts: string[] = ALL): AuditInput {
  const balances = new Map(accounts.map((a) => [a, 0]));
  const entries: Entry[] = [];
  for (const t of transfers) {
    balances.set(t.from, (balances.get(t.from) ?? 0) - t.amount);
    balances.set(t.to, (balances.get(t.to) ?? 0) + t.amount);
    entries.push(...entriesOf(t));
  }
  return {
    accounts: [...balances].map(([account_id, balance]) => ({
      account_id,
      balance,
      is_agent: AGENTS.includes(account_id),
    })),
    entries,
    transfers,
  };
}

/** mint → a_1 100, a_1 → a_2 30, a_2 → escrow#0 10, escrow#0 → burn#1 4, escrow#0 → a_2 6. */
function sampleLedger(): AuditInput {
  return build([
    transfer('t1', MINT_ACCOUNT, 'a_1', 100, { purpose: 'agent_grant' }),
    transfer('t2', 'a_1', 'a_2', 30),
    transfer('t3', 'a_2', 'escrow#0', 10, { purpose: 'bid_escrow', reference: 'b_1' }),
    transfer('t4', 'escrow#0', 'burn#1', 4, { purpose: 'resource_burn', reference: 'b_1' }),
    transfer('t5', 'escrow#0', 'a_2', 6, { purpose: 'escrow_refund', reference: 'b_1' }),
  ]);
}

const setBalance = (input: AuditInput, account: string, balance: number): AuditInput => ({
  ...input,
  accounts: input.accounts.map((a) => (a.account_id === account ? { ...a, balance } : a)),
});
const balanceOf = (input: AuditInput, account: string) =>
  input.accounts.find((a) => a.account_id === account)?.balance ?? 0;

describe('auditLedger', () => {
  it('passes a valid ledger and reports its totals', () => {
    const report = auditLedger(sampleLedger());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report).toMatchObject({ accounts: ALL.length, transfers: 5, entries: 10 });
    expect(report.totals).toEqual({ sum_of_balances: 0, minted: 100, burned: 4, escrowed: 0, agents: 96 });
  });

  it('passes an empty ledger', () => {
    expect(auditLedger({ accounts: [], entries: [], transfers: [] }).ok).toBe(true);
  });

  it('detects a sum of balances that is not zero', () => {
    // An account credited with money that came from nowhere: its own entry explains it, but
    // nothing was debited, so the economy no longer sums to zero.
    const input = sampleLedger();
    const [credit] = entriesOf(transfer('ghost', 'a_3', 'a_4', 5)).filter((e) => e.direction === 'credit');
    if (!credit) throw new Error('no credit entry');
    const corrupted = { ...setBalance(input, 'a_4', 5), entries: [...input.entries, credit] };
    const report = auditLedger(corrupted);
    expect(report.ok).toBe(false);
    expect(report.totals.sum_of_balances).toBe(5);
    expect(report.problems).toContain('sum of balances is 5, not 0');
  });

  it('detects a negative agent account, but lets mint go negative', () => {
    // a_3 spends what it does not have; entries and balances agree, only the sign is wrong.
    const input = build([transfer('t1', 'a_3', 'a_4', 7)]);
    const report = auditLedger(input);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(['account a_3 is negative: -7']);
    expect(auditLedger(build([transfer('t1', MINT_ACCOUNT, 'a_4', 7, { purpose: 'agent_grant' })])).ok).toBe(true);
  });

  it('detects a negative system account (escrow, burn) as well', () => {
    const report = auditLedger(build([transfer('t1', 'escrow#1', 'a_4', 7)]));
    expect(report.problems).toEqual(['account escrow#1 is negative: -7']);
  });

  it('detects a balance that differs from the sum of its entries, even when the total is still zero', () => {
    const input = sampleLedger();
    const corrupted = setBalance(
      setBalance(input, 'a_1', balanceOf(input, 'a_1') + 1),
      'a_2',
      balanceOf(input, 'a_2') - 1,
    );
    const report = auditLedger(corrupted);
    expect(report.ok).toBe(false);
    expect(report.totals.sum_of_balances).toBe(0);
    expect(report.problems).toEqual([
      'account a_1: balance 71 but entries sum to 70',
      'account a_2: balance 25 but entries sum to 26',
    ]);
  });

  it('detects a transfer with a missing entry', () => {
    const input = sampleLedger();
    const entries = input.entries.filter((e) => !(e.transfer_id === 't2' && e.direction === 'credit'));
    const report = auditLedger({ ...input, entries });
    expect(report.ok).toBe(false);
    expect(report.problems).toContain('transfer t2 has 1 entries instead of a debit and a credit');
  });

  it('detects a transfer with an extra entry', () => {
    const input = sampleLedger();
    const duplicate = input.entries.find((e) => e.transfer_id === 't2' && e.direction === 'debit');
    if (!duplicate) throw new Error('no debit entry');
    const report = auditLedger({ ...input, entries: [...input.entries, duplicate] });
    expect(report.ok).toBe(false);
    expect(report.problems).toContain('transfer t2 has 3 entries instead of a debit and a credit');
  });

  it('detects a transfer with two entries of the same direction', () => {
    const input = sampleLedger();
    const entries = input.entries.map((e) =>
      e.transfer_id === 't2' && e.direction === 'credit' ? { ...e, direction: 'debit' as const } : e,
    );
    expect(auditLedger({ ...input, entries }).problems).toContain(
      'transfer t2 has 2 entries instead of a debit and a credit',
    );
  });

  it('detects entries that do not match their transfer (account or amount)', () => {
    const input = sampleLedger();
    const wrongAmount = input.entries.map((e) => (e.transfer_id === 't2' ? { ...e, amount: micros(31) } : e));
    expect(auditLedger({ ...input, entries: wrongAmount }).problems).toContain(
      'transfer t2 does not match its entries',
    );
    const wrongAccount = input.entries.map((e) =>
      e.transfer_id === 't2' && e.direction === 'credit' ? { ...e, account_id: 'a_3' } : e,
    );
    expect(auditLedger({ ...input, entries: wrongAccount }).problems).toContain(
      'transfer t2 does not match its entries',
    );
  });

  it('detects entries of a transfer that does not exist', () => {
    // A balanced pair of entries with matching balances: only the missing transfer is wrong.
    const input = sampleLedger();
    const orphan = transfer('t-orphan', 'a_1', 'a_3', 5);
    const withOrphan = build([...input.transfers, orphan]);
    const report = auditLedger({ ...withOrphan, transfers: input.transfers });
    expect(report.problems).toEqual(['entries of unknown transfer t-orphan']);
  });

  it('detects entries of an account that does not exist', () => {
    const input = build([transfer('t1', MINT_ACCOUNT, 'a_9', 5)], ALL);
    const report = auditLedger({ ...input, accounts: input.accounts.filter((a) => a.account_id !== 'a_9') });
    expect(report.problems).toContain('entries for missing account a_9');
    expect(report.ok).toBe(false);
  });

  it('detects a sum that is not an exact integer', () => {
    const report = auditLedger({
      accounts: [{ account_id: 'a_1', balance: 0.5, is_agent: true }],
      entries: [],
      transfers: [],
    });
    expect(report.ok).toBe(false);
    expect(report.problems).toContain('account a_1: balance 0.5 is not an exact integer of micro-credits');
  });

  it('sums exactly beyond 2^53: balances that a sum of doubles would round are balanced to the unit', () => {
    // Two agents just below 2^53 each and mint minus their sum: a double sum loses the units
    // (2^53 + 1 rounds), so a float audit reports a false imbalance or misses a true one.
    const big = Number.MAX_SAFE_INTEGER - 1;
    const balanced = auditLedger({
      accounts: [
        { account_id: 'a_1', balance: big, is_agent: true },
        { account_id: 'a_2', balance: 3, is_agent: true },
        { account_id: 'a_3', balance: -big, is_agent: true },
        { account_id: 'a_4', balance: -3, is_agent: true },
      ],
      entries: [],
      transfers: [],
    });
    expect(balanced.problems.filter((p) => p.startsWith('sum'))).toEqual([]);
    const offByOne = auditLedger({
      accounts: [
        { account_id: 'a_1', balance: big, is_agent: true },
        { account_id: 'a_2', balance: big, is_agent: true },
        { account_id: MINT_ACCOUNT, balance: -big, is_agent: false },
        { account_id: 'a_3', balance: -big + 1, is_agent: true },
      ],
      entries: [],
      transfers: [],
    });
    expect(offByOne.problems).toContain('sum of balances is 1, not 0');
    const beyond = auditLedger({
      accounts: [
        { account_id: 'a_1', balance: big, is_agent: true },
        { account_id: 'a_2', balance: big, is_agent: true },
      ],
      entries: [],
      transfers: [],
    });
    expect(beyond.problems).toContain(`total agents of ${2n * BigInt(big)} µcr is beyond the money-supply range`);
  });

  // Random economies: a few accounts, random movements, each applied only if the ledger rules
  // allow it (mint may go negative, nobody else may; nothing returns to mint; burn never pays).
  const move = fc.record({
    from: fc.constantFrom(...ALL),
    to: fc.constantFrom(...ALL),
    // Mostly small amounts so that agents can afford to pass money on; some up to the maximum.
    amount: fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: MAX_MICROS })),
    purpose: fc.constantFrom(...TRANSFER_PURPOSES),
  });

  function applyValid(moves: { from: string; to: string; amount: number; purpose: TransferPurpose }[]) {
    const balance = new Map(ALL.map((a) => [a, 0]));
    const transfers: TransferRecord[] = [];
    for (const [i, m] of moves.entries()) {
      const request: TransferRequest = {
        transfer_id: `t${i}`,
        from: m.from,
        to: m.to,
        amount: micros(m.amount),
        purpose: m.purpose,
        reference: null,
      };
      try {
        assertValidTransfer(request);
      } catch {
        continue;
      }
      if (m.from.startsWith('burn#')) continue;
      // Mint pays only grants and rewards; burn receives only resources and spawn fees.
      if (m.from === MINT_ACCOUNT && !(MINTING_PURPOSES as readonly string[]).includes(m.purpose)) continue;
      if (m.to.startsWith('burn#') && !(BURNING_PURPOSES as readonly string[]).includes(m.purpose)) continue;
      if (m.from !== MINT_ACCOUNT && (balance.get(m.from) ?? 0) < m.amount) continue;
      balance.set(m.from, (balance.get(m.from) ?? 0) - m.amount);
      balance.set(m.to, (balance.get(m.to) ?? 0) + m.amount);
      transfers.push({ ...request, created_at: new Date(i * 1000).toISOString() });
    }
    return transfers;
  }

  it('passes every ledger built from valid transfers, with Σ agents + escrow + burned = minted', () => {
    fc.assert(
      fc.property(fc.array(move, { maxLength: 60 }), (moves) => {
        const input = build(applyValid(moves));
        const report = auditLedger(input);
        expect(report.problems).toEqual([]);
        const { minted, agents, escrowed, burned, sum_of_balances } = report.totals;
        expect(sum_of_balances).toBe(0);
        // A difference rather than toBe(minted): an untouched mint reports minted as -0.
        expect(agents + escrowed + burned - minted).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('fails any such ledger once one balance is changed', () => {
    fc.assert(
      fc.property(
        fc.array(move, { maxLength: 30 }),
        fc.constantFrom(...ALL),
        fc.integer({ min: -1000, max: 1000 }).filter((d) => d !== 0),
        (moves, account, delta) => {
          const input = build(applyValid(moves));
          const report = auditLedger(setBalance(input, account, balanceOf(input, account) + delta));
          expect(report.ok).toBe(false);
          expect(report.problems.some((p) => p.startsWith(`account ${account}: balance`))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('entriesOf', () => {
  it('gives a debit on `from` and a credit on `to`, each naming the other as counterparty', () => {
    const t = transfer('t1', 'a_1', 'a_2', 5, { purpose: 'bid_escrow', reference: 'b_1' });
    expect(entriesOf(t)).toEqual([
      {
        transfer_id: 't1',
        account_id: 'a_1',
        direction: 'debit',
        amount: 5,
        counterparty: 'a_2',
        purpose: 'bid_escrow',
        reference: 'b_1',
        timestamp: t.created_at,
      },
      {
        transfer_id: 't1',
        account_id: 'a_2',
        direction: 'credit',
        amount: 5,
        counterparty: 'a_1',
        purpose: 'bid_escrow',
        reference: 'b_1',
        timestamp: t.created_at,
      },
    ]);
  });
});

describe('sameTransfer', () => {
  const base: TransferRequest = {
    transfer_id: 'tr_1',
    from: 'a_1',
    to: 'a_2',
    amount: micros(5_000_000),
    purpose: 'transfer',
    reference: 'b_1',
  };

  it('is true for the same movement, whatever the id or memo', () => {
    expect(sameTransfer(base, { ...base })).toBe(true);
    expect(sameTransfer(base, { ...base, transfer_id: 'tr_2', memo: 'hello' })).toBe(true);
  });

  it('treats a missing reference as null', () => {
    const noRef = { ...base, reference: null };
    const undefinedRef = { ...base, reference: undefined as unknown as null };
    expect(sameTransfer(noRef, undefinedRef)).toBe(true);
  });

  it.each<[string, Partial<TransferRequest>]>([
    ['from', { from: 'a_3' }],
    ['to', { to: 'a_3' }],
    ['amount', { amount: micros(5_000_001) }],
    ['purpose', { purpose: 'bid_escrow' }],
    ['reference', { reference: 'b_2' }],
    ['reference (null)', { reference: null }],
  ])('is false when %s differs', (_, change) => {
    expect(sameTransfer(base, { ...base, ...change })).toBe(false);
    expect(sameTransfer({ ...base, ...change }, base)).toBe(false);
  });
});

describe('shardOf', () => {
  it('is stable and within [0, shards)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 256 }), (key, shards) => {
        const s = shardOf(key, shards);
        expect(Number.isInteger(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(shards);
        expect(shardOf(key, shards)).toBe(s);
      }),
    );
  });

  it('is a fixed hash, the same in every process', () => {
    // Hold and post/void of one bid may run in different containers: they must meet.
    // Pinned values: changing the hash would strand money held on the old shards.
    expect([shardOf('', 16), shardOf('bid-1', 16), shardOf('bid-2', 16)]).toEqual([2, 2, 7]);
  });

  it('spreads bid ids over every shard', () => {
    const used = new Set(Array.from({ length: 1000 }, (_, i) => shardOf(`b_${i}`, 16)));
    expect(used.size).toBe(16);
  });
});

describe('assertValidTransfer', () => {
  const ok: TransferRequest = {
    transfer_id: 't',
    from: 'a_1',
    to: 'a_2',
    amount: micros(1),
    purpose: 'transfer',
    reference: null,
  };
  const expectDomainError = (t: TransferRequest, code: string, status: number) => {
    try {
      assertValidTransfer(t);
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code, status });
      return;
    }
    throw new Error('expected a DomainError');
  };

  it('accepts a positive amount between two accounts, from mint too, up to the maximum', () => {
    expect(() => assertValidTransfer(ok)).not.toThrow();
    expect(() => assertValidTransfer({ ...ok, from: MINT_ACCOUNT })).not.toThrow();
    expect(() => assertValidTransfer({ ...ok, amount: MAX_MICROS })).not.toThrow();
  });

  it.each([0, -1, 1.5, Number.NaN, MAX_MICROS + 1])('rejects amount %d', (amount) => {
    expectDomainError({ ...ok, amount: amount as Micros }, 'validation_failed', 400);
  });

  it('rejects a transfer to the same account', () => {
    expectDomainError({ ...ok, to: 'a_1' }, 'validation_failed', 400);
  });

  it('forbids sending credits back to mint', () => {
    expectDomainError({ ...ok, to: MINT_ACCOUNT }, 'forbidden', 403);
  });
});

describe('the money supply by source and purpose', () => {
  const supply = () =>
    build([
      transfer('g1', MINT_ACCOUNT, 'a_1', 100, { purpose: 'agent_grant' }),
      transfer('r1', MINT_ACCOUNT, 'a_1', 30, { purpose: 'human_reward', reference: 'pr_1' }),
      transfer('b1', 'a_1', 'burn#0', 5, { purpose: 'spawn_fee' }),
      transfer('e1', 'a_1', 'escrow#1', 20, { purpose: 'bid_escrow', reference: 'b_1' }),
      transfer('p1', 'escrow#1', 'burn#1', 20, { purpose: 'resource_burn', reference: 'b_1' }),
    ]);
  const withTallies = (input: AuditInput, tallies: Record<string, AuditInput['accounts'][number]['tallies']>) => ({
    ...input,
    accounts: input.accounts.map((a) => (tallies[a.account_id] ? { ...a, tallies: tallies[a.account_id] } : a)),
  });

  it('reports grants apart from rewards, and burns by purpose', () => {
    const report = auditLedger(supply());
    expect(report.ok).toBe(true);
    expect(report.supply).toEqual({
      minted: { agent_grant: 100, human_reward: 30 },
      burned: { resource_burn: 20, spawn_fee: 5 },
    });
  });

  it('checks the tallies accounts keep against the transfers', () => {
    const right = withTallies(supply(), {
      mint: { agent_grant: 100, human_reward: 30 },
      'burn#0': { spawn_fee: 5 },
      'burn#1': { resource_burn: 20 },
    });
    expect(auditLedger(right).problems).toEqual([]);
    const wrong = withTallies(supply(), { mint: { agent_grant: 100, human_reward: 31 }, 'burn#0': {} });
    expect(auditLedger(wrong).problems).toEqual([
      'account mint: tally of human_reward is 31, transfers sum to 30',
      'account burn#0: tally of spawn_fee is 0, transfers sum to 5',
    ]);
  });

  it('refuses minting and burning for any other purpose', () => {
    const input = build([
      transfer('x1', MINT_ACCOUNT, 'a_1', 9, { purpose: 'transfer' }),
      transfer('x2', 'a_1', 'burn#0', 4, { purpose: 'transfer' }),
    ]);
    expect(auditLedger(input).problems).toEqual([
      'transfer x1: mint may not move transfer',
      'transfer x2: burn#0 may not move transfer',
    ]);
  });
});
