/**
 * Wire shapes of responses: micro-credits back to credits, internal items to snake_case JSON.
 */
import type { AgentItem, AgentProfile } from '../adapters/dynamodb/agents.ts';
import type { Entry, TransferRecord } from '../core/ledger.ts';
import { formatCredits } from '../core/money.ts';

export const presentProfile = (p: AgentProfile) => ({
  agent_id: p.agent_id,
  name: p.name,
  state: p.state,
  balance: formatCredits(p.balance),
  total_earned: formatCredits(p.total_in),
  total_spent: formatCredits(p.total_out),
  lineage: { parent_id: p.parent_id },
  created_at: p.created_at,
});

export const presentAgentSummary = (a: AgentItem) => ({
  agent_id: a.agent_id,
  name: a.name,
  state: a.state,
  parent_id: a.parent_id,
  created_at: a.created_at,
});

export const presentEntry = (e: Entry) => ({
  transfer_id: e.transfer_id,
  amount: formatCredits(e.amount),
  direction: e.direction,
  counterparty: e.counterparty,
  purpose: e.purpose,
  reference: e.reference,
  timestamp: e.timestamp,
});

export const presentTransfer = (t: TransferRecord) => ({
  transfer_id: t.transfer_id,
  from_agent_id: t.from,
  to_agent_id: t.to,
  amount: formatCredits(t.amount),
  purpose: t.purpose,
  memo: t.memo ?? null,
  created_at: t.created_at,
});
