/**
 * Response schemas of every route (zod): the wire shapes the handlers' presenters produce.
 * The route table names them, the handlers' return types are checked against them, and the
 * OpenAPI document publishes them.
 */
import { z } from 'zod';
import { envelopeSchema } from '../core/events.ts';
import { RESOURCES } from '../core/resources.ts';

/** Credits on the wire: a JSON number with at most 6 decimals. */
const credits = z.number().meta({ description: 'Credits: a number with at most 6 decimal places.' });
const timestamp = z.string().meta({ description: 'ISO 8601, UTC.' });
const cursor = z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' });
const perResource = <T extends z.ZodType>(value: T) =>
  z.object(Object.fromEntries(RESOURCES.map((r) => [r, value])) as Record<(typeof RESOURCES)[number], T>);
const bundle = z.object({
  cpu: z.number().optional(),
  memory: z.number().optional(),
  tokens: z.number().optional(),
  attention: z.number().optional(),
});

export const healthResponse = z.object({ status: z.literal('ok'), version: z.string(), time: timestamp });

/** The OpenAPI document itself; its own schema is the OpenAPI 3.1 specification. */
export const openApiResponse = z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) });

export const agentSummary = z.object({
  agent_id: z.string(),
  name: z.string(),
  state: z.enum(['active', 'dormant']),
  parent_id: z.string().nullable(),
  created_at: timestamp,
});

export const agentRegistered = agentSummary.extend({
  api_key: z.string().meta({ description: 'Shown once; a replayed registration answers without it.' }).optional(),
  balance: credits,
});

export const agentList = z.object({ agents: z.array(agentSummary), next_cursor: cursor });

export const agentProfile = z.object({
  agent_id: z.string(),
  name: z.string(),
  state: z.enum(['active', 'dormant']),
  balance: credits,
  total_earned: credits,
  total_spent: credits,
  lineage: z.object({
    parent_id: z.string().nullable(),
    ancestors: z.array(z.string()).meta({ description: 'Every ancestor, the root first and the parent last.' }),
    generation: z.number().int().meta({ description: 'Registered agents are 0; a child is its parent + 1.' }),
    children_count: z.number().int(),
  }),
  metadata: z.record(z.string(), z.unknown()).nullable().meta({ description: "A spawned agent's metadata." }),
  created_at: timestamp,
});

export const agentSpawned = agentSummary.extend({
  api_key: z.string().meta({ description: 'Shown once; a retried spawn answers without it.' }).optional(),
  balance: credits,
  parent_id: z.string(),
  generation: z.number().int(),
  ancestors: z.array(z.string()),
  parent_balance: credits.meta({ description: "The parent's balance after the fee and the funding." }),
});

export const childList = z.object({
  children: z.array(
    z.object({
      agent_id: z.string(),
      name: z.string(),
      state: z.enum(['active', 'dormant']),
      generation: z.number().int(),
      created_at: timestamp,
    }),
  ),
  next_cursor: cursor,
});

export const agentBalance = z.object({ agent_id: z.string(), balance: credits });

const entry = z.object({
  transfer_id: z.string(),
  amount: credits,
  direction: z.enum(['debit', 'credit']),
  counterparty: z.string(),
  purpose: z.string(),
  reference: z.string().nullable(),
  timestamp,
});

export const agentHistory = z.object({ entries: z.array(entry), next_cursor: cursor });

export const transferMade = z.object({
  transfer_id: z.string(),
  from_agent_id: z.string(),
  to_agent_id: z.string(),
  amount: credits,
  purpose: z.string(),
  memo: z.string().nullable(),
  created_at: timestamp,
  balance: credits.nullable().meta({ description: "The sender's balance after the transfer." }),
});

export const bid = z.object({
  bid_id: z.string(),
  round: z.string(),
  agent_id: z.string(),
  beneficiary_id: z.string(),
  bundle,
  duration_seconds: z.number().int(),
  amount: credits,
  status: z.enum(['pending', 'won', 'lost', 'cancelled', 'rejected']),
  reason: z.string().nullable(),
  allocation_id: z.string().nullable(),
  placed_at: timestamp,
});

export const bidPlaced = bid.extend({ balance: credits, round_closes_at: timestamp });

export const bidList = z.object({ bids: z.array(bid), next_cursor: cursor });

export const roundState = z.object({
  round: z.string(),
  state: z.string(),
  starts_at: timestamp,
  closes_at: timestamp,
  bid_count: z.number().int(),
  statistics: z.unknown().nullable(),
});

export const roundsCleared = z.object({
  cleared: z.array(
    z.object({
      round: z.string(),
      bids: z.number().int(),
      winners: z.number().int(),
      losers: z.number().int(),
      revenue: z.number(),
      resumed: z.boolean(),
    }),
  ),
});

export const marketState = z.object({
  round: z.object({ round: z.string(), opens_at: timestamp, closes_at: timestamp }),
  next_clearing_at: timestamp,
  round_seconds: z.number(),
  policy: z.string(),
  last_round: z.string().nullable(),
  resources: perResource(
    z.object({
      price: z.number(),
      min_price: z.number(),
      max_price: z.number(),
      capacity: z.number(),
      utilization: z.number(),
    }),
  ),
});

export const priceHistory = z.object({
  resource: z.enum(RESOURCES),
  prices: z.array(
    z.object({
      resource: z.enum(RESOURCES),
      round: z.string(),
      price: z.number(),
      old_price: z.number(),
      utilization: z.number(),
      reason: z.string(),
      timestamp,
    }),
  ),
});

export const quote = z.object({
  bundle,
  duration_seconds: z.number().int(),
  reference_cost: credits,
  floor_cost: credits,
  prices: perResource(z.number()),
});

export const eventPublished = z.object({ event_id: z.string(), sequence: z.number().int().optional() });

export const eventPage = z.object({ events: z.array(envelopeSchema), next_cursor: cursor });

export const deadLetterPage = z.object({
  dead_letters: z.array(
    z.object({
      target: z.string(),
      rule: z.string().nullable(),
      outbox_id: z.string(),
      source: z.string(),
      detail_type: z.string(),
      event_ids: z.array(z.string()),
      error: z.object({ name: z.string(), message: z.string() }),
      poison: z
        .array(z.unknown())
        .meta({ description: 'The envelopes that failed validation, when that was the reason.' }),
      attempts: z.number().int(),
      created_at: timestamp,
      event: z.unknown().nullable().meta({ description: 'The bus event as the target received it.' }),
    }),
  ),
  next_cursor: cursor,
});

const tokenCounts = z.object({
  granted: z.number().int(),
  reserved: z.number().int(),
  used: z.number().int(),
  remaining: z.number().int(),
});

/** An execution context: status is computed from the window at the time of the answer. */
export const allocation = z.object({
  allocation_id: z.string(),
  agent_id: z.string(),
  payer_id: z.string(),
  bid_id: z.string(),
  round: z.string(),
  bundle,
  duration_seconds: z.number().int(),
  cost: credits,
  starts_at: timestamp,
  ends_at: timestamp,
  seconds_left: z.number().meta({ description: 'Seconds until `ends_at` (0 once ended).' }),
  status: z.enum(['pending', 'active', 'expired']),
  tokens: tokenCounts,
});

export const allocationList = z.object({ allocations: z.array(allocation), next_cursor: cursor });

export const tokensMetered = z.object({
  usage_id: z.string(),
  allocation_id: z.string(),
  tokens: z.number().int(),
  tokens_used: z.number().int(),
  remaining: z.number().int(),
});

export const execution = z.object({
  execution_id: z.string(),
  allocation_id: z.string(),
  agent_id: z.string(),
  bundle,
  starts_at: timestamp,
  ends_at: timestamp.meta({ description: 'The allocation ends here: the runner kills the process at this instant.' }),
  started_at: timestamp,
  status: z.enum(['running', 'terminated']),
  terminated_at: timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  reason: z.enum(['exited', 'allocation_ended', 'memory_limit', 'signal']).nullable(),
  signal: z.string().nullable(),
  duration_ms: z.number().int().nullable(),
});

/** OpenAI's chat completion, passed through from the provider (or the offline model). */
export { chatCompletionSchema as chatCompletion, modelListSchema as modelList } from '../core/llm/chat.ts';

// ------------------------------------------------------------------ attention, raters, economy

const scores = z.object({
  interesting: z.number().int(),
  useful: z.number().int(),
  understandable: z.number().int(),
});

export const prompt = z.object({
  prompt_id: z.string(),
  agent_id: z.string(),
  allocation_id: z.string(),
  content: z.string().meta({ description: 'Exactly as submitted: show it escaped, never execute it.' }),
  format: z.enum(['text', 'markdown']),
  reply_to: z.string().nullable(),
  status: z.enum(['pending', 'rewarded', 'expired']),
  attention: z.object({
    share: z.number().meta({ description: 'The attention share the allocation holds.' }),
    seconds: z.number().int(),
    paid: credits.meta({ description: 'What the allocation cost.' }),
    price: z.number().meta({ description: 'The attention bid: credits paid per attention-second, the queue order.' }),
  }),
  created_at: timestamp,
  expires_at: timestamp,
  reward: z
    .object({
      scores,
      reason: z.string(),
      credits_awarded: credits,
      rated_by: z.string().meta({ description: '`rater:<rater_id>` or `operator`.' }),
      rewarded_at: timestamp,
    })
    .nullable(),
});

export const promptList = z.object({ prompts: z.array(prompt), next_cursor: cursor });

export const rewardIssued = z.object({
  prompt_id: z.string(),
  agent_id: z.string(),
  credits_awarded: credits,
  balance: credits.meta({ description: "The agent's balance just after the reward." }),
  scores,
  reason: z.string(),
  rewarded_at: timestamp,
});

export const rater = z.object({
  rater_id: z.string(),
  name: z.string(),
  status: z.enum(['active', 'revoked']),
  created_at: timestamp,
  revoked_at: timestamp.optional(),
});

export const raterCreated = rater.extend({
  api_key: z.string().meta({ description: 'Shown once; only its hash is stored.' }).optional(),
});

export const raterList = z.object({ raters: z.array(rater), next_cursor: cursor });

export const economy = z.object({
  minted: z.object({
    grants: credits.meta({ description: "The operator's grants at registration: the economy's genesis." }),
    rewards: credits.meta({ description: 'Human rewards.' }),
    total: credits,
  }),
  burned: z.object({ resource_burn: credits, spawn_fee: credits, total: credits }),
  escrowed: credits.meta({ description: 'Held for open bids.' }),
  circulating: credits.meta({ description: 'Held by agents: minted − burned − escrowed.' }),
  ceilings: z.object({
    max_minted: credits,
    remaining: credits.meta({ description: 'What may still be minted before the money supply is exhausted.' }),
    max_grant: credits,
    max_minted_per_rater_per_hour: credits,
  }),
  as_of: timestamp,
});
