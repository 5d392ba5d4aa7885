/**
 * Request schemas of every route (zod, strict: unknown fields are errors). The handlers
 * validate with them and the OpenAPI document is generated from them.
 */
import { z } from 'zod';
import { AGENT_EVENT_TYPES, EVENT_TYPES, type EventType } from '../core/events.ts';
import { MAX_EXECUTION_DURATION_MS, TERMINATION_REASONS } from '../core/executions.ts';
import { MoneyError, parseCredits } from '../core/money.ts';
import { PROMPT_FORMATS, PROMPT_STATUSES } from '../core/prompts.ts';
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH } from '../core/spawning.ts';
import { RULES } from '../rules.ts';

/** Credits on the wire → integer micro-credits; rejects > 6 decimals, NaN, > 1e9, negatives. */
export const credits = (opts: { allowZero?: boolean } = {}) =>
  z
    .number()
    .meta({ description: 'Credits: a number with at most 6 decimal places.', examples: [12.5] })
    .transform((v, ctx) => {
      try {
        return parseCredits(v, { allowZero: opts.allowZero ?? false });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof MoneyError ? err.message : 'invalid amount' });
        return z.NEVER;
      }
    });

export const agentId = z
  .string()
  .regex(/^a_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an agent id (a_ followed by a ULID)')
  .meta({ examples: ['a_01JD0000000000000000000000'] });

export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** The name of an agent or a rater: short, and plain enough to print anywhere. */
export const displayName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N} ._-]+$/u, 'letters, digits, spaces, dot, underscore and dash only');

export const registerAgentBody = z
  .object({
    name: displayName,
    initial_balance: credits({ allowZero: true }),
  })
  .strict();

/** Nesting depth of a JSON value: a scalar is 0, `{}` or `[]` is 1. */
function jsonDepth(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const inner = Object.values(v as Record<string, unknown>).map(jsonDepth);
  return 1 + Math.max(0, ...inner);
}

/** A spawned agent's metadata: a JSON object of its parent's, bounded in size and depth. */
export const agentMetadata = z
  .record(z.string(), z.unknown())
  .meta({
    description: `Any JSON object, at most ${MAX_METADATA_BYTES} bytes serialized and ${MAX_METADATA_DEPTH} levels deep.`,
    examples: [{ role: 'scout', strategy: { max_bid: 5 } }],
  })
  .superRefine((v, ctx) => {
    if (Buffer.byteLength(JSON.stringify(v), 'utf8') > MAX_METADATA_BYTES) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` });
    } else if (jsonDepth(v) > MAX_METADATA_DEPTH) {
      ctx.addIssue({ code: 'custom', message: `must nest at most ${MAX_METADATA_DEPTH} levels` });
    }
  });

/** `POST /v1/agents/{id}/children`: the child's name and funding (both from the parent). */
export const spawnChildBody = z
  .object({
    name: displayName,
    initial_balance: credits({ allowZero: true }),
    metadata: agentMetadata.optional(),
  })
  .strict();

export const agentStateBody = z.object({ state: z.enum(['active', 'dormant']) }).strict();

export const transferBody = z
  .object({
    to_agent_id: agentId,
    amount: credits(),
    memo: z.string().max(256).optional(),
    /** Accepted as a synonym of `memo`. */
    purpose_note: z.string().max(256).optional(),
  })
  .strict()
  .refine((b) => b.memo === undefined || b.purpose_note === undefined, {
    message: 'give memo or purpose_note, not both',
    path: ['purpose_note'],
  });

export const noQuery = z.object({}).strict();

/** Bid ids derive from the caller and its Idempotency-Key (see functions/http/bids.ts). */
export const bidId = z.string().regex(/^b_[A-Za-z0-9_-]{26}$/, 'must be a bid id');

/** Shape only; quantities, capacity and duration bounds are checked against the economy. */
export const bundleSchema = z
  .object({
    cpu: z.number().optional(),
    memory: z.number().optional(),
    tokens: z.number().optional(),
    attention: z.number().optional(),
  })
  .strict();

export const placeBidBody = z
  .object({
    bundle: bundleSchema,
    duration_seconds: z.number().int(),
    amount: credits(),
    beneficiary_id: agentId.optional(),
  })
  .strict();

export const quoteBody = z.object({ bundle: bundleSchema, duration_seconds: z.number().int() }).strict();

export const listBidsQuery = pageQuery
  .extend({
    status: z.enum(['pending', 'won', 'lost', 'cancelled', 'rejected']).optional(),
    round: z
      .string()
      .regex(/^r_\d{1,12}$/)
      .optional(),
    /** Operator only: whose bids. */
    agent_id: agentId.optional(),
  })
  .strict();

export const priceHistoryQuery = z
  .object({
    resource: z.enum(['cpu', 'memory', 'tokens', 'attention']),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

// ---------------------------------------------------------------------------------------------
// Event log and dead-letter routes (POST/GET /v1/events, GET /v1/dead-letters)

const eventOptions = AGENT_EVENT_TYPES.map((type) =>
  z.object({ type: z.literal(type), data: EVENT_TYPES[type].data }).strict(),
);

/** Body of POST /v1/events: an agent event type and its data; `source` and `agent_id` come from the caller. */
export const agentEventBody = z.discriminatedUnion(
  'type',
  eventOptions as [(typeof eventOptions)[number], ...(typeof eventOptions)[number][]],
);

/** An event id as the system makes them: `ev_` and a ULID. */
export const eventId = z.string().regex(/^ev_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an event id (ev_ followed by a ULID)');

export const eventsQuery = z
  .object({
    /** Exclusive: only events with a greater (later) id. */
    after: eventId.optional(),
    type: z.enum(Object.keys(EVENT_TYPES) as [EventType, ...EventType[]]).optional(),
    agent_id: agentId.optional(),
    scenario_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

const ruleTargets = [...new Set(RULES.map((r) => r.target))] as [string, ...string[]];

export const deadLettersQuery = z
  .object({
    target: z.enum(ruleTargets).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** Allocation ids derive from their bid (`allocationIdOf` in core/settlement.ts). */
export const allocationId = z.string().regex(/^al_[A-Za-z0-9_-]{26}$/, 'must be an allocation id');

export const listAllocationsQuery = z
  .object({
    status: z.enum(['active', 'expired']).optional(),
    agent_id: agentId.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** Most tokens one usage report may draw: more than any allocation can hold (`MAX_TOKENS_PER_HOUR`). */
export const MAX_USAGE_TOKENS = 1e12;

export const usageBody = z
  .object({
    tokens: z
      .number()
      .int()
      .min(1)
      .max(MAX_USAGE_TOKENS)
      .meta({ description: 'Tokens to draw now: a whole number ≥ 1.', examples: [250] }),
  })
  .strict();

// ---------------------------------------------------------------------------------------------
// Executions (POST /v1/allocations/{id}/executions, POST /v1/executions/{id}/termination)

/** Execution ids derive from the caller and its Idempotency-Key (see functions/http/executions.ts). */
export const executionId = z.string().regex(/^ex_[A-Za-z0-9_-]{26}$/, 'must be an execution id');

/** A start takes nothing but the allocation in its path: `{}` or no body at all. */
export const startExecutionBody = z.object({}).strict();

const signalName = z
  .string()
  .regex(/^SIG[A-Z0-9+-]{1,16}$/, 'a signal name such as SIGKILL')
  .meta({ examples: ['SIGKILL'] });

export const terminationBody = z
  .object({
    /** The process's exit code; null when a signal ended it. */
    exit_code: z.number().int().min(-2_147_483_648).max(4_294_967_295).nullable(),
    reason: z.enum(TERMINATION_REASONS),
    signal: signalName.nullable().default(null),
    duration_ms: z.number().int().min(0).max(MAX_EXECUTION_DURATION_MS),
  })
  .strict();

/**
 * `POST /v1/llm/chat/completions`: OpenAI's request shape. Unlike every other body, unknown
 * fields pass (OpenAI SDKs send new ones with each release); the fields the gateway reads are
 * bounded (core/llm/chat.ts).
 */
export { chatRequestSchema as chatCompletionBody } from '../core/llm/chat.ts';

// ------------------------------------------------------------------ attention, raters

/** Prompt ids derive from their allocation (`promptIdOf` in core/prompts.ts). */
export const promptId = z.string().regex(/^pr_[A-Za-z0-9_-]{26}$/, 'must be a prompt id');
export const raterId = z.string().regex(/^rt_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a rater id (rt_ followed by a ULID)');

/**
 * Control characters other than tab, newline and carriage return (they would drive a
 * terminal that prints the text), and the bidirectional overrides that make text display in
 * an order other than the one it is stored in.
 */
function unsafeCharacter(code: number): boolean {
  if (code === 0x09 || code === 0x0a || code === 0x0d) return false;
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

const hasUnsafeCharacter = (s: string) => {
  for (let i = 0; i < s.length; i++) if (unsafeCharacter(s.charCodeAt(i))) return true;
  return false;
};

/** Human-readable text, stored exactly as given: bounded, and free of characters that would act rather than read. */
export const humanText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !hasUnsafeCharacter(s), {
      message: 'must not contain control characters (other than tab and newline) or bidirectional overrides',
    });

/** The hard cap of prompt content; the economy's `rewards.max_prompt_chars` may set it lower. */
export const MAX_PROMPT_CHARS = 32_000;

export const submitPromptBody = z
  .object({
    allocation_id: allocationId,
    content: humanText(MAX_PROMPT_CHARS).meta({ description: 'Plain text, or markdown with format: "markdown".' }),
    format: z.enum(PROMPT_FORMATS).default('text'),
    reply_to: promptId.optional().meta({ description: "One of the agent's earlier prompts this one follows." }),
  })
  .strict();

export const listPromptsQuery = z
  .object({
    status: z.enum(PROMPT_STATUSES).default('pending'),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

const score = z.number().int('must be an integer from 0 to 10').min(0).max(10);

export const rewardBody = z
  .object({
    interesting: score,
    useful: score,
    understandable: score,
    reason: humanText(2000),
  })
  .strict();

export const createRaterBody = z.object({ name: displayName }).strict();
