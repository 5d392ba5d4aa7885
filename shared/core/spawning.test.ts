import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { micros } from './money.ts';
import { ledgerChange } from './movements.ts';
import { seededRandom, ulidGenerator } from './ports.ts';
import { childLineage, decideSpawn, lineageOf, type SpawnParent, type SpawnRules, spawnRefusal } from './spawning.ts';

const clock = { now: () => Date.parse('2026-12-01T00:00:00.000Z') };
const deps = () => ({ clock, ids: ulidGenerator(clock, seededRandom(1)) });
const AT = new Date(clock.now()).toISOString();
const PARENT = 'a_01JD0000000000000000000000';
const CHILD = 'a_01JD0000000000000000000001';
const BURN = 'burn#03';

const parentOf = (over: Partial<SpawnParent> = {}): SpawnParent => ({
  agent_id: PARENT,
  state: 'active',
  lineage: lineageOf({}),
  balance: micros(100_000_000),
  seq: 2,
  ...over,
});
const rules = (over: Partial<SpawnRules> = {}): SpawnRules => ({
  fee: micros(10_000_000),
  max_depth: 8,
  max_children: 16,
  ...over,
});
const child = (initial: number) => ({ agent_id: CHILD, name: 'kid', initial_balance: micros(initial), created_at: AT });

const µcr = fc.integer({ min: 0, max: 1_000_000_000_000 });

describe('lineage', () => {
  it('reads items without lineage as roots, and a child one generation below its parent', () => {
    expect(lineageOf({ parent_id: null })).toEqual({
      parent_id: null,
      ancestors: [],
      generation: 0,
      children_count: 0,
    });
    const child1 = childLineage('a_root', lineageOf({}));
    expect(child1).toEqual({ parent_id: 'a_root', ancestors: ['a_root'], generation: 1, children_count: 0 });
    expect(childLineage('a_child', child1)).toEqual({
      parent_id: 'a_child',
      ancestors: ['a_root', 'a_child'],
      generation: 2,
      children_count: 0,
    });
  });
});

describe('decideSpawn', () => {
  it('conserves money: fee and funding leave the parent exactly, to the burn shard and the child', () => {
    fc.assert(
      fc.property(µcr, µcr, µcr, fc.nat({ max: 1_000 }), (fee, initial, spare, seq) => {
        const parent = parentOf({ balance: micros(fee + initial + spare), seq });
        const r = rules({ fee: micros(fee) });
        expect(spawnRefusal(parent, micros(initial), r)).toBeUndefined();
        const d = decideSpawn(deps(), parent, child(initial), r, BURN, {});
        const change = ledgerChange(d.movements);
        const net = Object.fromEntries(change.accounts.map((a) => [a.account_id, a.balance]));
        expect(change.accounts.reduce((s, a) => s + a.balance, 0)).toBe(0);
        expect(net[PARENT] ?? 0).toBe(-(fee + initial));
        expect(net[BURN] ?? 0).toBe(fee);
        expect(net[CHILD] ?? 0).toBe(initial);
        expect(d.parentBalanceAfter).toBe(spare);
        // Nothing of zero is moved: a transfer amount is always positive.
        expect(d.movements.every((m) => m.record.amount > 0)).toBe(true);
        expect(d.movements.map((m) => m.record.purpose)).toEqual([
          ...(fee > 0 ? ['spawn_fee'] : []),
          ...(initial > 0 ? ['spawn_funding'] : []),
        ]);
      }),
    );
  });

  it("numbers the parent's events contiguously after its sequence and the child's registration 1", () => {
    fc.assert(
      fc.property(fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.nat({ max: 10_000 }), (fee, initial, seq) => {
        const parent = parentOf({ seq });
        const d = decideSpawn(deps(), parent, child(initial), rules({ fee: micros(fee) }), BURN, {});
        const ofParent = d.events.filter((e) => e.aggregate === `agent:${PARENT}`);
        expect(ofParent.map((e) => e.sequence)).toEqual(ofParent.map((_, i) => seq + 1 + i));
        expect(d.parentEvents).toBe(ofParent.length);
        const ofChild = d.events.filter((e) => e.aggregate === `agent:${CHILD}`);
        expect(ofChild.map((e) => [e.type, e.sequence])).toEqual([['agent_registered', 1]]);
        expect(d.events.at(-1)?.type).toBe('agent_spawned');
        expect(new Set(d.events.map((e) => e.event_id)).size).toBe(d.events.length);
      }),
    );
  });

  it('emits fee, registration, funding, agent_spawned, with the lineage and the data of each', () => {
    const d = decideSpawn(deps(), parentOf(), child(5_000_000), rules(), BURN, { correlation_id: 'req-1' });
    expect(d.events.map((e) => [e.type, (e.data as { purpose?: string }).purpose ?? null])).toEqual([
      ['credits_transferred', 'spawn_fee'],
      ['agent_registered', null],
      ['credits_transferred', 'spawn_funding'],
      ['agent_spawned', null],
    ]);
    expect(d.events[1]?.data).toEqual({ agent_id: CHILD, name: 'kid', initial_balance: 5, parent_id: PARENT });
    expect(d.events[3]?.data).toEqual({ parent_id: PARENT, child_id: CHILD, spawn_cost: 10, initial_balance: 5 });
    expect(d.events.every((e) => e.correlation_id === 'req-1')).toBe(true);
    expect(d.lineage).toEqual({ parent_id: PARENT, ancestors: [PARENT], generation: 1, children_count: 0 });
    // The fee is the parent's spending; the funding is the parent's spending and the child's earning.
    const change = ledgerChange(d.movements);
    const parent = change.accounts.find((a) => a.account_id === PARENT);
    expect(parent).toMatchObject({ total_out: 15_000_000, total_in: 0 });
    expect(change.accounts.find((a) => a.account_id === CHILD)).toMatchObject({ total_in: 5_000_000 });
  });
});

describe('spawnRefusal', () => {
  it('refuses a dormant parent first, then depth, then children, then short funds', () => {
    const deep = lineageOf({ generation: 8, children_count: 16 });
    expect(spawnRefusal(parentOf({ state: 'dormant', lineage: deep, balance: micros(0) }), micros(1), rules())).toEqual(
      {
        code: 'agent_dormant',
      },
    );
    expect(spawnRefusal(parentOf({ lineage: deep, balance: micros(0) }), micros(1), rules())).toEqual({
      code: 'spawn_limit_reached',
      limit: 'depth',
      max: 8,
    });
    const full = lineageOf({ generation: 7, children_count: 16 });
    expect(spawnRefusal(parentOf({ lineage: full, balance: micros(0) }), micros(1), rules())).toEqual({
      code: 'spawn_limit_reached',
      limit: 'children',
      max: 16,
    });
    expect(spawnRefusal(parentOf({ balance: micros(10_999_999) }), micros(1_000_000), rules())).toEqual({
      code: 'insufficient_balance',
      required: 11_000_000,
      available: 10_999_999,
    });
    expect(spawnRefusal(parentOf({ balance: micros(11_000_000) }), micros(1_000_000), rules())).toBeUndefined();
  });

  it('allows a spawn exactly when every bound holds', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat({ max: 70 }),
        fc.nat({ max: 70 }),
        fc.nat({ max: 64 }),
        fc.nat({ max: 70 }),
        µcr,
        µcr,
        µcr,
        (active, generation, count, maxDepth, maxChildren, fee, initial, balance) => {
          const parent = parentOf({
            state: active ? 'active' : 'dormant',
            lineage: lineageOf({ generation, children_count: count }),
            balance: micros(balance),
          });
          const r = rules({ fee: micros(fee), max_depth: maxDepth, max_children: maxChildren });
          const allowed = active && generation + 1 <= maxDepth && count < maxChildren && balance >= fee + initial;
          expect(spawnRefusal(parent, micros(initial), r) === undefined).toBe(allowed);
        },
      ),
    );
  });
});
