/**
 * Resource ownership: an agent acts only on its own account; the operator reads everything.
 */
import { forbidden } from '../core/errors.ts';
import type { Caller } from './api.ts';

export function assertSelfOrOperator(caller: Caller, agentId: string): void {
  if (caller.role === 'operator') return;
  if (caller.role !== 'agent' || caller.agent_id !== agentId) {
    throw forbidden('An agent can act only on its own resources.');
  }
}

export function assertSelf(caller: Caller, agentId: string): void {
  if (caller.role !== 'agent' || caller.agent_id !== agentId) {
    throw forbidden('Only the agent itself can do this.');
  }
}
