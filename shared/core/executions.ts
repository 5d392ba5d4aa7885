/**
 * Executions, free of any storage: one run of an agent's process inside one of its
 * allocations, as the execution runner (`syntropism exec`, local/exec/) reports it. What a start
 * and a termination write and emit is decided here; the DynamoDB store only makes it one
 * conditional transaction.
 *
 * The runner runs on the agent's host with the agent's key, so an execution's facts (exit code,
 * reason, duration) are attested by the agent, not observed by the system: the system checks
 * only what it can (the allocation's owner and window at start, one termination per execution).
 */
import { type AllocationRecord, notUsable } from './allocations.ts';
import { DomainError, notFound } from './errors.ts';
import type { EventDraft } from './events.ts';

export const TERMINATION_REASONS = ['exited', 'allocation_ended', 'memory_limit', 'signal'] as const;
export type TerminationReason = (typeof TERMINATION_REASONS)[number];

/**
 * The longest run a termination may report: the longest allocation (24 h) plus a day of slack
 * for the kill's grace period and a runner whose report was delayed.
 */
export const MAX_EXECUTION_DURATION_MS = 2 * 86_400_000;

/** What the runner reports when the process has ended. */
export interface Termination {
  /** The process's own exit code; null when a signal ended it. */
  exit_code: number | null;
  reason: TerminationReason;
  /** The signal that ended the process (`SIGKILL`, …), when one did. */
  signal: string | null;
  duration_ms: number;
}

export interface ExecutionRecord {
  execution_id: string;
  allocation_id: string;
  agent_id: string;
  bundle: AllocationRecord['bundle'];
  starts_at: string;
  ends_at: string;
  ends_at_ms: number;
  started_at: string;
  started_at_ms: number;
  status: 'running' | 'terminated';
  /** The `execution_started` event, the cause of `execution_terminated`. */
  started_event_id: string;
  terminated_at?: string;
  termination?: Termination;
}

/** Aggregate of an execution's events: `execution_started` is 1, `execution_terminated` 2. */
export const executionAggregate = (executionId: string) => `execution:${executionId}`;

/**
 * The execution a start creates, and its event; refused when the allocation is not the caller's
 * (404: existence must not leak) or `now` is outside its window (409 `allocation_not_active`).
 */
export function planStart(
  allocation: AllocationRecord | undefined,
  input: { execution_id: string; allocation_id: string; agent_id: string; now_ms: number },
): { execution: Omit<ExecutionRecord, 'started_event_id'>; event: EventDraft<'execution_started'> } {
  if (!allocation || allocation.agent_id !== input.agent_id) throw notFound(`Allocation ${input.allocation_id}`);
  const refusal = notUsable(allocation, input.now_ms);
  if (refusal) throw refusal;
  const execution = {
    execution_id: input.execution_id,
    allocation_id: allocation.allocation_id,
    agent_id: allocation.agent_id,
    bundle: allocation.bundle,
    starts_at: allocation.starts_at,
    ends_at: allocation.ends_at,
    ends_at_ms: allocation.ends_at_ms,
    started_at: new Date(input.now_ms).toISOString(),
    started_at_ms: input.now_ms,
    status: 'running' as const,
  };
  const event: EventDraft<'execution_started'> = {
    type: 'execution_started',
    agent_id: allocation.agent_id,
    aggregate: executionAggregate(input.execution_id),
    sequence: 1,
    data: { execution_id: input.execution_id, allocation_id: allocation.allocation_id, agent_id: allocation.agent_id },
  };
  return { execution, event };
}

/** The `execution_terminated` event of a running execution ending with `termination`. */
export function terminationEvent(
  execution: ExecutionRecord,
  termination: Termination,
): EventDraft<'execution_terminated'> {
  return {
    type: 'execution_terminated',
    agent_id: execution.agent_id,
    aggregate: executionAggregate(execution.execution_id),
    sequence: 2,
    causation_id: execution.started_event_id,
    data: {
      execution_id: execution.execution_id,
      allocation_id: execution.allocation_id,
      agent_id: execution.agent_id,
      exit_code: termination.exit_code,
      reason: termination.reason,
      signal: termination.signal,
      duration_ms: termination.duration_ms,
    },
  };
}

export const sameTermination = (a: Termination, b: Termination): boolean =>
  a.exit_code === b.exit_code && a.reason === b.reason && a.signal === b.signal && a.duration_ms === b.duration_ms;

/**
 * Whether a termination may be recorded on `execution` as it stands: `apply` when it is
 * running, `replay` when the very same termination is already recorded (a retry whose first
 * answer was lost), else a refusal (404 for another agent's or a missing execution, 409
 * `invalid_state` for a different second termination).
 */
export function terminationDecision(
  executionId: string,
  execution: ExecutionRecord | undefined,
  agentId: string,
  termination: Termination,
): 'apply' | 'replay' {
  if (!execution || execution.agent_id !== agentId) throw notFound(`Execution ${executionId}`);
  if (execution.status === 'running') return 'apply';
  if (execution.termination && sameTermination(execution.termination, termination)) return 'replay';
  throw new DomainError(
    'invalid_state',
    409,
    `Execution ${execution.execution_id} already terminated at ${execution.terminated_at} (${execution.termination?.reason}).`,
    { status: execution.status, terminated_at: execution.terminated_at ?? null },
  );
}

/** Whether the termination is consistent in itself: an exit code for `exited`, a signal otherwise. */
export function terminationProblems(t: Termination): string[] {
  const problems: string[] = [];
  if (t.reason === 'exited' && (t.exit_code === null || t.signal !== null)) {
    problems.push('an exited process has an exit code and no signal');
  }
  if (t.reason === 'signal' && t.signal === null) problems.push('a process ended by a signal names the signal');
  return problems;
}
