/**
 * Cursors: they round-trip for their own caller, listing and filters only; anything else, and
 * anything forged, is the 400 `validation_failed` at `/cursor`, never another error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.ts';
import { keys } from '../../table.ts';
import { type CursorScope, callerOf, decodeCursor, encodeCursor, listings, scopeHash } from './cursor.ts';

const A = 'a_01JD0000000000000000000001';
const B = 'a_01JD0000000000000000000002';
const BID = 'b_0123456789abcdefghijklmnop';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The error a bad cursor must be, and nothing else. */
function expectCursorError(fn: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainError);
  const err = thrown as DomainError;
  expect(err.status).toBe(400);
  expect(err.code).toBe('validation_failed');
  expect(err.errors?.map((e) => e.path)).toEqual(['/cursor']);
  if (message) expect(err.errors?.[0]?.message).toMatch(message);
}

const bidKey = (agent: string, bid = BID) => ({ ...keys.bid(bid), ...keys.agentBidsIndex(agent, bid) });

describe('cursor scope', () => {
  it('binds a cursor to its caller, its listing and its filters', () => {
    const key = bidKey(A);
    const own = listings.bidsOfAgent(A, A, { status: 'won' });
    const cursor = own.encode(key);
    expect(cursor).not.toBeNull();
    expect(own.decode(cursor ?? '')).toEqual(key);
    // The operator reading the same listing: another caller.
    expectCursorError(() => listings.bidsOfAgent('operator', A, { status: 'won' }).decode(cursor ?? ''), /another/);
    // Another filter, and the filter dropped.
    expectCursorError(() => listings.bidsOfAgent(A, A, { status: 'lost' }).decode(cursor ?? ''), /another/);
    expectCursorError(() => listings.bidsOfAgent(A, A, {}).decode(cursor ?? ''), /another/);
    // Another listing, even with a key of the same attribute set.
    expectCursorError(() => listings.agents(A).decode(cursor ?? ''), /another/);
  });

  it('hashes filters canonically: order and absent filters do not matter', () => {
    const base: CursorScope = { caller: A, listing: 'bids', filters: { status: 'won', round: 'r1' } };
    expect(scopeHash(base)).toBe(scopeHash({ ...base, filters: { round: 'r1', status: 'won', agent: undefined } }));
    expect(scopeHash(base)).not.toBe(scopeHash({ ...base, filters: { status: 'won', round: 'r2' } }));
    expect(scopeHash({ caller: A, listing: 'x' })).toBe(scopeHash({ caller: A, listing: 'x', filters: {} }));
    // Parts cannot run into each other: ("ab", "c") is not ("a", "bc").
    expect(scopeHash({ caller: 'ab', listing: 'c' })).not.toBe(scopeHash({ caller: 'a', listing: 'bc' }));
  });

  it('names the caller by agent id, or by role for the operator', () => {
    expect(callerOf({ role: 'agent', agent_id: A })).toBe(A);
    expect(callerOf({ role: 'operator' })).toBe('operator');
  });

  it('encodes no cursor after the last page', () => {
    expect(encodeCursor(undefined, { caller: A, listing: 'x' })).toBeNull();
    expect(listings.agents('operator').decode(undefined)).toBeUndefined();
  });
});

describe('cursor shape', () => {
  // Cursors with the right scope hash: what a forger who knows the format would send.
  const scoped = (scope: CursorScope, k: unknown) => b64({ s: scopeHash(scope), k });
  const bidsScope: CursorScope = { caller: A, listing: 'bids', filters: { agent: A } };
  const bids = listings.bidsOfAgent(A, A, {});

  it('refuses the empty key values DynamoDB would refuse', () => {
    expectCursorError(() => bids.decode(scoped(bidsScope, { PK: '', SK: '', GSI1PK: '', GSI1SK: '' })));
    expectCursorError(() => bids.decode(scoped(bidsScope, { ...bidKey(A), SK: '' })));
    // The very cursor of the reported defect, without any scope.
    expectCursorError(() => bids.decode(b64({ PK: '', SK: '', GSI1PK: '', GSI1SK: '' })));
  });

  it('never moves a query to another partition', () => {
    // Agent B's bids, presented as A's: the scope hash is right, the partition is not.
    expectCursorError(() => bids.decode(scoped(bidsScope, bidKey(B))), /another/);
    const history = listings.history(A, A);
    const other = keys.entry(B, 1, 't1');
    expectCursorError(() => history.decode(scoped({ caller: A, listing: 'history', filters: { account: A } }, other)));
  });

  it('demands the exact attribute set, string values and key sizes', () => {
    const key = bidKey(A);
    const { GSI1SK: _dropped, ...missing } = key;
    for (const k of [
      missing,
      { ...key, extra: 'x' },
      { ...key, SK: 1 },
      { ...key, SK: null },
      { ...key, SK: { S: 'BID' } },
      { ...key, GSI1SK: 'x'.repeat(1025) },
      [key],
      'key',
      null,
    ]) {
      expectCursorError(() => bids.decode(scoped(bidsScope, k)));
    }
  });

  it('checks what the listing knows of its keys', () => {
    // An index key whose base-table key is not the item it belongs to.
    expectCursorError(() => bids.decode(scoped(bidsScope, { ...bidKey(A), PK: 'BID#other' })));
    const agents = listings.agents('operator');
    const agentKey = { ...keys.agent(A), ...keys.agentsIndex(A) };
    expect(agents.decode(agents.encode(agentKey) ?? '')).toEqual(agentKey);
    expectCursorError(() =>
      agents.decode(scoped({ caller: 'operator', listing: 'agents' }, { ...agentKey, SK: 'ACCOUNT' })),
    );
    // A history position outside the `begins_with(SK, ENTRY#)` range DynamoDB would refuse.
    const history = listings.history(A, A);
    const scope = { caller: A, listing: 'history', filters: { account: A } };
    expect(history.decode(history.encode(keys.entry(A, 5, 't')) ?? '')).toEqual(keys.entry(A, 5, 't'));
    expectCursorError(() => history.decode(scoped(scope, keys.account(A))));
  });

  it('keeps dead-letter cursors to their target, or to the all-targets index', () => {
    const item = { ...keys.deadLetter('nats', 'o1'), ...keys.deadLettersIndex('2024-01-01T00:00:00Z#nats#o1') };
    const all = listings.deadLetters('operator', undefined);
    expect(all.decode(all.encode(item) ?? '')).toEqual(item);
    const scope = { caller: 'operator', listing: 'dead-letters', filters: {} };
    expectCursorError(() => all.decode(scoped(scope, { ...item, SK: 'o2' })));
    const ofTarget = listings.deadLetters('operator', 'nats');
    expect(ofTarget.decode(ofTarget.encode(keys.deadLetter('nats', 'o1')) ?? '')).toEqual(
      keys.deadLetter('nats', 'o1'),
    );
    expectCursorError(() => ofTarget.decode(all.encode(item) ?? ''), /another/);
    const targetScope = { caller: 'operator', listing: 'dead-letters', filters: { target: 'nats' } };
    expectCursorError(() => ofTarget.decode(scoped(targetScope, keys.deadLetter('event-log', 'o1'))), /another/);
  });

  it('accepts only the canonical base64url spelling', () => {
    const cursor = bids.encode(bidKey(A)) ?? '';
    for (const bad of [`${cursor}!`, `!${cursor}`, `${cursor}=`, cursor.replace(/-/g, '+'), ' ', '']) {
      if (bad === cursor) continue;
      expectCursorError(() => decodeCursor(bad, bidsScope, { attributes: ['PK'], partition: {} }));
    }
    expectCursorError(() => bids.decode('x'.repeat(5000)));
  });
});

describe('cursor fuzzing', () => {
  const decoders = [
    listings.bidsOfAgent(A, A, { status: 'won' }),
    listings.agents('operator'),
    listings.history(A, A),
    listings.deadLetters('operator', undefined),
    listings.deadLetters('operator', 'nats'),
  ];

  /** Decoding either succeeds or throws the cursor's 400, nothing else. */
  function decodesOrRefuses(cursor: string) {
    for (const d of decoders) {
      try {
        const position = d.decode(cursor);
        // Whatever got through has non-empty string values only.
        expect(Object.values(position ?? {}).every((v) => typeof v === 'string' && v.length > 0)).toBe(true);
      } catch (err) {
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).status).toBe(400);
        expect((err as DomainError).errors?.[0]?.path).toBe('/cursor');
      }
    }
  }

  it('random strings and random bytes', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), decodesOrRefuses), { numRuns: 500 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) =>
        decodesOrRefuses(Buffer.from(bytes).toString('base64url')),
      ),
      { numRuns: 500 },
    );
  });

  it('random JSON, bare or wrapped with the right scope hash', () => {
    const scope = { caller: A, listing: 'bids', filters: { agent: A, status: 'won' } };
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        decodesOrRefuses(b64(json));
        decodesOrRefuses(b64({ s: scopeHash(scope), k: json }));
      }),
      { numRuns: 500 },
    );
  });

  it('random keys of the right attribute set', () => {
    const scope = { caller: A, listing: 'bids', filters: { agent: A, status: 'won' } };
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constant(keys.agentBidsIndex(A, '').GSI1PK), fc.integer());
    fc.assert(
      fc.property(fc.record({ PK: value, SK: value, GSI1PK: value, GSI1SK: value }), (k) => {
        decodesOrRefuses(b64({ s: scopeHash(scope), k }));
      }),
      { numRuns: 500 },
    );
  });
});
