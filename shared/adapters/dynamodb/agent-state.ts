/**
 * The agent item's state (`active` / `dormant`) as a transaction action. Every operation that
 * depends on an agent's state (a payment that wakes it, a state change) holds it with this
 * condition, so a concurrent change makes the operation replan instead of acting on a stale state.
 */
import { keys } from '../../table.ts';
import type { TxAction } from './transaction.ts';

export type AgentState = 'active' | 'dormant';

/** Holds the agent in state `from`, moving it to `to` when given; a change meanwhile replans. */
export function agentStateAction<R>(
  tableName: string,
  agentId: string,
  from: AgentState,
  to?: AgentState,
): TxAction<R> {
  const condition = {
    TableName: tableName,
    Key: keys.agent(agentId),
    ConditionExpression: '#state = :from',
    ExpressionAttributeNames: { '#state': 'state' },
  };
  return {
    label: `agent state ${agentId}`,
    item:
      to === undefined
        ? { ConditionCheck: { ...condition, ExpressionAttributeValues: { ':from': from } } }
        : {
            Update: {
              ...condition,
              UpdateExpression: 'SET #state = :to',
              ExpressionAttributeValues: { ':from': from, ':to': to },
            },
          },
    onConditionFailed: () => ({ kind: 'retry' }),
  };
}
