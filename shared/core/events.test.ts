/**
 * The event taxonomy and envelope: every type has a schema, a fixed source and component, and
 * nothing malformed gets past validation (an invalid event must fail in tests, not on NATS).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixedEventDeps, sampleDraft, sampleEnvelope, sampleEventData } from './events.fixtures.ts';
import {
  AGENT_EVENT_TYPES,
  COMPONENTS,
  EVENT_TYPES,
  type EventType,
  envelopeSchema,
  InvalidEventError,
  makeEvent,
  SOURCES,
  subjectOf,
  validateEnvelope,
} from './events.ts';

const TYPES = Object.keys(EVENT_TYPES) as EventType[];

/** The event taxonomy of the specification (docs/events.md renders it): source, component and the `data` fields it names ("at least these"). */
const SPEC: Record<string, { source: string; component: string; fields: string[] }> = {
  credits_transferred: {
    source: 'system',
    component: 'economy',
    fields: ['transfer_id', 'from', 'to', 'amount', 'purpose', 'reference'],
  },
  balance_queried: { source: 'system', component: 'economy', fields: ['agent_id', 'balance'] },
  human_reward_issued: {
    source: 'system',
    component: 'economy',
    fields: ['agent_id', 'prompt_id', 'scores', 'credits_awarded'],
  },
  bid_placed: {
    source: 'system',
    component: 'market',
    fields: ['bid_id', 'agent_id', 'beneficiary_id', 'round', 'bundle', 'duration_seconds', 'total_cost'],
  },
  bid_rejected: {
    source: 'system',
    component: 'market',
    fields: ['agent_id', 'reason', 'required', 'available', 'bid_id'],
  },
  bid_cancelled: { source: 'system', component: 'market', fields: ['bid_id'] },
  resources_allocated: {
    source: 'system',
    component: 'scheduler',
    fields: ['bid_id', 'allocation_id', 'agent_id', 'bundle', 'duration_seconds', 'cost', 'starts_at', 'ends_at'],
  },
  auction_cleared: {
    source: 'system',
    component: 'scheduler',
    fields: ['round', 'bids', 'winners', 'losers', 'revenue', 'utilization', 'clearing_prices'],
  },
  price_update: {
    source: 'system',
    component: 'market',
    fields: ['resource', 'old_price', 'new_price', 'utilization', 'reason'],
  },
  allocation_expired: {
    source: 'system',
    component: 'scheduler',
    fields: ['allocation_id', 'agent_id', 'tokens_used'],
  },
  quota_exceeded: { source: 'system', component: 'scheduler', fields: ['allocation_id', 'requested', 'remaining'] },
  agent_registered: { source: 'system', component: 'agents', fields: [] },
  agent_spawned: {
    source: 'system',
    component: 'agents',
    fields: ['parent_id', 'child_id', 'spawn_cost', 'initial_balance'],
  },
  agent_dormant: { source: 'system', component: 'agents', fields: ['agent_id', 'final_balance', 'reason'] },
  agent_awake: { source: 'system', component: 'agents', fields: ['agent_id', 'awakened_by', 'current_balance'] },
  prompt_submitted: { source: 'system', component: 'attention', fields: ['prompt_id', 'allocation_id'] },
  reasoning_trace: {
    source: 'agent',
    component: 'agents',
    fields: ['decision_id', 'context', 'factors_considered', 'reasoning', 'decision', 'alternatives_considered'],
  },
  tool_call_initiated: {
    source: 'agent',
    component: 'agents',
    fields: ['tool_name', 'parameters', 'justification'],
  },
  tool_call_completed: { source: 'agent', component: 'agents', fields: ['tool_name', 'result', 'response'] },
  reflection: {
    source: 'agent',
    component: 'agents',
    fields: ['trigger', 'outcome_assessment', 'what_worked', 'what_failed', 'adjustments_planned', 'metrics'],
  },
  code_change_proposed: {
    source: 'agent',
    component: 'agents',
    fields: ['target_module', 'change_description', 'expected_improvement', 'diff'],
  },
  code_change_applied: {
    source: 'agent',
    component: 'agents',
    fields: ['change_id', 'modules_modified', 'tests_run', 'test_results'],
  },
  judge_evaluation: {
    source: 'judge',
    component: 'benchmark',
    fields: ['scenario_id', 'evaluation_id', 'criteria', 'overall_score', 'pass', 'feedback'],
  },
};

/** Property names and required names of a type's `data`, read from its JSON Schema. */
function fieldsOf(type: EventType) {
  const schema = z.toJSONSchema(EVENT_TYPES[type].data) as { properties?: object; required?: string[] };
  return { names: Object.keys(schema.properties ?? {}), required: schema.required ?? [] };
}

describe('taxonomy', () => {
  const SPEC_TYPES = Object.keys(SPEC) as EventType[];

  it('has every type named by the spec', () => {
    expect(TYPES).toEqual(expect.arrayContaining(SPEC_TYPES));
  });

  // human_reward_issued is listed under "System, economy" in the taxonomy; it is checked on its
  // own below.
  it.each(SPEC_TYPES.filter((t) => t !== 'human_reward_issued'))(
    '%s has the source and component of the spec',
    (type) => {
      expect({ source: EVENT_TYPES[type].source, component: EVENT_TYPES[type].component }).toEqual({
        source: SPEC[type]?.source,
        component: SPEC[type]?.component,
      });
    },
  );

  // The taxonomy lists human_reward_issued under "System, economy", next to the other ledger
  // events, but the code files it under `attention`: its NATS subject is
  // syntropism.system.attention.human_reward_issued instead of syntropism.system.economy.….
  it('human_reward_issued is an economy event, as the spec lists it', () => {
    expect(EVENT_TYPES.human_reward_issued.component).toBe('economy');
  });

  it.each(SPEC_TYPES)('%s data has at least the fields of the spec', (type) => {
    expect(fieldsOf(type).names).toEqual(expect.arrayContaining(SPEC[type]?.fields ?? []));
  });

  it.each(TYPES)('%s documents when it is emitted', (type) => {
    expect(EVENT_TYPES[type].when.length).toBeGreaterThan(10);
  });

  it('lists as agent events exactly those POST /v1/events accepts', () => {
    expect([...AGENT_EVENT_TYPES].sort()).toEqual(
      [
        'code_change_applied',
        'code_change_proposed',
        'reasoning_trace',
        'reflection',
        'tool_call_completed',
        'tool_call_initiated',
      ].sort(),
    );
  });

  it('uses only the declared sources and components', () => {
    for (const type of TYPES) {
      expect(SOURCES).toContain(EVENT_TYPES[type].source);
      expect(COMPONENTS).toContain(EVENT_TYPES[type].component);
    }
  });
});

describe('data schemas', () => {
  it.each(TYPES)('%s accepts its sample data', (type) => {
    const result = EVENT_TYPES[type].data.safeParse(sampleEventData[type]);
    expect(result.error).toBeUndefined();
  });

  it.each(TYPES)('%s rejects {} (it has required fields)', (type) => {
    expect(fieldsOf(type).required.length).toBeGreaterThan(0);
    expect(EVENT_TYPES[type].data.safeParse({}).success).toBe(false);
  });

  it.each(TYPES)('%s rejects its sample with any one required field removed', (type) => {
    for (const field of fieldsOf(type).required) {
      const { [field]: _removed, ...rest } = sampleEventData[type] as Record<string, unknown>;
      expect(EVENT_TYPES[type].data.safeParse(rest).success, `${type} without ${field}`).toBe(false);
    }
  });

  it.each(TYPES)('%s rejects unknown fields (strict)', (type) => {
    expect(EVENT_TYPES[type].data.safeParse({ ...sampleEventData[type], surprise: 1 }).success).toBe(false);
  });

  it('rejects values outside the ranges the spec states', () => {
    const judge = sampleEventData.judge_evaluation;
    const criterion = { criterion: 'thrift', score: 6, justification: '' };
    expect(EVENT_TYPES.judge_evaluation.data.safeParse({ ...judge, criteria: [criterion] }).success).toBe(false);
    expect(EVENT_TYPES.judge_evaluation.data.safeParse({ ...judge, overall_score: 0 }).success).toBe(false);
    const transfer = sampleEventData.credits_transferred;
    for (const amount of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(EVENT_TYPES.credits_transferred.data.safeParse({ ...transfer, amount }).success).toBe(false);
    }
    expect(EVENT_TYPES.credits_transferred.data.safeParse({ ...transfer, purpose: 'gift' }).success).toBe(false);
    const bid = sampleEventData.bid_placed;
    expect(EVENT_TYPES.bid_placed.data.safeParse({ ...bid, bundle: { gpu: 1 } }).success).toBe(false);
    expect(EVENT_TYPES.bid_placed.data.safeParse({ ...bid, duration_seconds: 1.5 }).success).toBe(false);
  });
});

describe('makeEvent', () => {
  it.each(TYPES)('fills the source and component of %s', (type) => {
    const event = makeEvent(fixedEventDeps(), sampleDraft(type));
    expect(event.source).toBe(EVENT_TYPES[type].source);
    expect(event.component).toBe(EVENT_TYPES[type].component);
    expect(event.type).toBe(type);
    expect(event.data).toEqual(sampleEventData[type]);
  });

  it('stamps an id and the clock time, and carries the request context', () => {
    const deps = fixedEventDeps(Date.UTC(2026, 10, 26, 12, 0, 0, 123));
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: '' };
    const event = makeEvent(
      deps,
      sampleDraft('bid_placed', { agent_id: 'a_1', aggregate: 'bid:b_1', sequence: 1, causation_id: 'ev_0' }),
      { scenario_id: 'er_001', correlation_id: 'req-1', trace },
    );
    expect(event).toEqual({
      event_id: `ev_${'1'.padStart(26, '0')}`,
      type: 'bid_placed',
      source: 'system',
      component: 'market',
      timestamp: '2026-11-26T12:00:00.123Z',
      agent_id: 'a_1',
      scenario_id: 'er_001',
      correlation_id: 'req-1',
      causation_id: 'ev_0',
      aggregate: 'bid:b_1',
      sequence: 1,
      trace,
      data: sampleEventData.bid_placed,
    });
  });

  it('leaves out optional envelope fields that were not given (no undefined members)', () => {
    const event = makeEvent(fixedEventDeps(), sampleDraft('bid_cancelled'));
    expect(Object.keys(event).sort()).toEqual(['component', 'data', 'event_id', 'source', 'timestamp', 'type']);
  });

  it('refuses invalid data with InvalidEventError', () => {
    const draft = { type: 'bid_cancelled', data: {} } as unknown as Parameters<typeof makeEvent>[1];
    expect(() => makeEvent(fixedEventDeps(), draft)).toThrow(InvalidEventError);
    expect(() => makeEvent(fixedEventDeps(), sampleDraft('bid_placed', { sequence: 0 }))).toThrow(InvalidEventError);
  });
});

describe('validateEnvelope', () => {
  const valid = sampleEnvelope('bid_placed');

  it('accepts a valid envelope of every type and returns it unchanged', () => {
    for (const type of TYPES) {
      const envelope = sampleEnvelope(type);
      expect(validateEnvelope(JSON.parse(JSON.stringify(envelope)))).toEqual(envelope);
    }
  });

  it('fills the default of trace.tracestate', () => {
    const event = validateEnvelope({ ...valid, trace: { traceparent: '00-abc' } });
    expect(event.trace).toEqual({ traceparent: '00-abc', tracestate: '' });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown type', { type: 'bid_exploded' }, /invalid event envelope/],
    ['a wrong source', { source: 'agent' }, /must have source system and component market/],
    ['a wrong component', { component: 'economy' }, /must have source system and component market/],
    ['a source outside the set', { source: 'human' }, /invalid event envelope/],
    ['bad data', { data: { bid_id: 'b_1' } }, /invalid bid_placed data/],
    ['data of another type', { data: sampleEventData.bid_cancelled }, /invalid bid_placed data/],
    ['an extra envelope field', { priority: 'high' }, /invalid event envelope/],
    ['a non-ISO timestamp', { timestamp: 'yesterday' }, /invalid event envelope/],
    ['a zero sequence', { sequence: 0 }, /invalid event envelope/],
    ['a fractional sequence', { sequence: 1.5 }, /invalid event envelope/],
    ['an empty event id', { event_id: '' }, /invalid event envelope/],
    ['an empty scenario id', { scenario_id: '' }, /invalid event envelope/],
    ['an extra trace field', { trace: { traceparent: 'x', tracestate: '', baggage: 'y' } }, /invalid event envelope/],
  ])('rejects %s', (_, change, message) => {
    expect(() => validateEnvelope({ ...valid, ...change })).toThrow(InvalidEventError);
    expect(() => validateEnvelope({ ...valid, ...change })).toThrow(message);
  });

  it.each(['event_id', 'type', 'source', 'component', 'timestamp', 'data'])(
    'rejects an envelope without %s',
    (field) => {
      const { [field as keyof typeof valid]: _removed, ...rest } = valid;
      expect(() => validateEnvelope(rest)).toThrow(InvalidEventError);
    },
  );

  it.each([null, undefined, 'event', 42, []])('rejects %j', (candidate) => {
    expect(() => validateEnvelope(candidate)).toThrow(InvalidEventError);
  });

  it('checks the envelope schema exported for other modules', () => {
    expect(envelopeSchema.safeParse(valid).success).toBe(true);
  });
});

describe('subjectOf', () => {
  it('is syntropism.<source>.<component>.<type>', () => {
    expect(subjectOf(sampleEnvelope('bid_placed'))).toBe('syntropism.system.market.bid_placed');
    expect(subjectOf(sampleEnvelope('reflection'))).toBe('syntropism.agent.agents.reflection');
    expect(subjectOf(sampleEnvelope('judge_evaluation'))).toBe('syntropism.judge.benchmark.judge_evaluation');
  });

  it('gives every type its own subject, made of NATS-safe tokens', () => {
    const subjects = TYPES.map((type) => subjectOf({ type, ...EVENT_TYPES[type] }));
    expect(new Set(subjects).size).toBe(TYPES.length);
    for (const s of subjects) expect(s).toMatch(/^syntropism(\.[a-z_]+){3}$/);
  });
});
