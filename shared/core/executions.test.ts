import { describe, expect, it } from 'vitest';
import type { AllocationRecord } from './allocations.ts';
import { DomainError } from './errors.ts';
import {
  type ExecutionRecord,
  planStart,
  type Termination,
  terminationDecision,
  terminationEvent,
  terminationProblems,
} from './executions.ts';

const allocation = {
  allocation_id: 'al_1',
  agent_id: 'a_1',
  bundle: { cpu: 10, memory: 5 },
  starts_at: new Date(1_000).toISOString(),
  starts_at_ms: 1_000,
  ends_at: new Date(2_000).toISOString(),
  ends_at_ms: 2_000,
} as AllocationRecord;

const input = { execution_id: 'ex_1', allocation_id: 'al_1', agent_id: 'a_1', now_ms: 1_500 };
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof DomainError ? `${error.status} ${error.code}` : String(error);
  }
  return 'ok';
};

describe('planStart', () => {
  it('starts inside the window and says so in execution_started (sequence 1 of the execution)', () => {
    const { execution, event } = planStart(allocation, input);
    expect(execution).toMatchObject({
      status: 'running',
      ends_at_ms: 2_000,
      started_at_ms: 1_500,
      bundle: allocation.bundle,
    });
    expect(event).toEqual({
      type: 'execution_started',
      agent_id: 'a_1',
      aggregate: 'execution:ex_1',
      sequence: 1,
      data: { execution_id: 'ex_1', allocation_id: 'al_1', agent_id: 'a_1' },
    });
  });

  it.each([
    ['another agent', allocation, { agent_id: 'a_2' }, '404 not_found'],
    ['no allocation', undefined, {}, '404 not_found'],
    ['before starts_at', allocation, { now_ms: 999 }, '409 allocation_not_active'],
    ['at ends_at', allocation, { now_ms: 2_000 }, '409 allocation_not_active'],
    ['at starts_at', allocation, { now_ms: 1_000 }, 'ok'],
  ])('%s → %s', (_what, a, patch, expected) => {
    expect(code(() => planStart(a, { ...input, ...patch }))).toBe(expected);
  });
});

describe('termination', () => {
  const running = { ...planStart(allocation, input).execution, started_event_id: 'ev_1' } as ExecutionRecord;
  const exited: Termination = { exit_code: 3, reason: 'exited', signal: null, duration_ms: 10 };
  const ended = { ...running, status: 'terminated', termination: exited, terminated_at: 'later' } as ExecutionRecord;

  it('applies to a running execution, replays the same one, refuses a different one', () => {
    expect(terminationDecision('ex_1', running, 'a_1', exited)).toBe('apply');
    expect(terminationDecision('ex_1', ended, 'a_1', { ...exited })).toBe('replay');
    expect(code(() => terminationDecision('ex_1', ended, 'a_1', { ...exited, duration_ms: 11 }))).toBe(
      '409 invalid_state',
    );
    expect(code(() => terminationDecision('ex_1', running, 'a_2', exited))).toBe('404 not_found');
    expect(code(() => terminationDecision('ex_1', undefined, 'a_1', exited))).toBe('404 not_found');
  });

  it('execution_terminated is sequence 2, caused by execution_started', () => {
    expect(terminationEvent(running, exited)).toMatchObject({
      type: 'execution_terminated',
      sequence: 2,
      causation_id: 'ev_1',
      data: { execution_id: 'ex_1', exit_code: 3, reason: 'exited', signal: null, duration_ms: 10 },
    });
  });

  it.each([
    [{ exit_code: 0, reason: 'exited', signal: null }, 0],
    [{ exit_code: null, reason: 'exited', signal: null }, 1],
    [{ exit_code: 0, reason: 'exited', signal: 'SIGTERM' }, 1],
    [{ exit_code: null, reason: 'signal', signal: null }, 1],
    [{ exit_code: null, reason: 'signal', signal: 'SIGSEGV' }, 0],
    [{ exit_code: 143, reason: 'allocation_ended', signal: null }, 0],
    [{ exit_code: null, reason: 'memory_limit', signal: 'SIGKILL' }, 0],
  ] as const)('%j has %i problems', (t, count) => {
    expect(terminationProblems({ ...t, duration_ms: 1 })).toHaveLength(count);
  });
});
