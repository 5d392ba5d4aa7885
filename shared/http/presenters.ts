/**
 * Wire shapes of responses: micro-credits back to credits, internal items to snake_case JSON.
 */
import type { AgentItem, AgentProfile } from '../adapters/dynamodb/agents.ts';
import type { EconomySummary } from '../adapters/dynamodb/economy.ts';
import type { SpawnOutcome } from '../adapters/dynamodb/spawning.ts';
import type { Entry, TransferRecord } from '../core/ledger.ts';
import { formatCredits } from '../core/money.ts';
import type { PromptRecord } from '../core/prompts.ts';
import { lineageOf } from '../core/spawning.ts';

export const presentProfile = (p: AgentProfile) => ({
  agent_id: p.agent_id,
  name: p.name,
  state: p.state,
  balance: formatCredits(p.balance),
  total_earned: formatCredits(p.total_in),
  total_spent: formatCredits(p.total_out),
  lineage: lineageOf(p),
  metadata: p.metadata === undefined ? null : (JSON.parse(p.metadata) as Record<string, unknown>),
  created_at: p.created_at,
});

/** A spawned child: its summary, lineage and balance, its key when shown, the parent's balance. */
export const presentSpawned = (s: SpawnOutcome) => ({
  ...presentAgentSummary(s.child),
  parent_id: s.lineage.parent_id ?? '',
  generation: s.lineage.generation,
  ancestors: s.lineage.ancestors,
  ...(s.api_key !== undefined && { api_key: s.api_key }),
  balance: formatCredits(s.balance),
  parent_balance: formatCredits(s.parent_balance),
});

export const presentChild = (a: AgentItem) => ({
  agent_id: a.agent_id,
  name: a.name,
  state: a.state,
  generation: lineageOf(a).generation,
  created_at: a.created_at,
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

export const presentPrompt = (p: PromptRecord) => ({
  prompt_id: p.prompt_id,
  agent_id: p.agent_id,
  allocation_id: p.allocation_id,
  content: p.content,
  format: p.format,
  reply_to: p.reply_to,
  status: p.status,
  attention: {
    share: p.attention,
    seconds: p.duration_seconds,
    paid: formatCredits(p.paid),
    price: p.attention_price,
  },
  created_at: p.created_at,
  expires_at: p.expires_at,
  reward: p.reward
    ? {
        scores: p.reward.scores,
        reason: p.reward.reason,
        credits_awarded: formatCredits(p.reward.credits_awarded),
        rated_by: p.reward.rated_by,
        rewarded_at: p.reward.rewarded_at,
      }
    : null,
});

export const presentEconomy = (e: EconomySummary) => ({
  minted: {
    grants: formatCredits(e.minted.grants),
    rewards: formatCredits(e.minted.rewards),
    total: formatCredits(e.minted.total),
  },
  burned: {
    resource_burn: formatCredits(e.burned.resource_burn),
    spawn_fee: formatCredits(e.burned.spawn_fee),
    total: formatCredits(e.burned.total),
  },
  escrowed: formatCredits(e.escrowed),
  circulating: formatCredits(e.circulating),
  ceilings: {
    max_minted: formatCredits(e.ceilings.max_minted),
    remaining: formatCredits(e.ceilings.remaining),
    max_grant: formatCredits(e.ceilings.max_grant),
    max_minted_per_rater_per_hour: formatCredits(e.ceilings.max_minted_per_rater_per_hour),
  },
  as_of: e.as_of,
});
