/**
 * Runtime configuration: `loadConfig(env)` parses and validates an environment record once, and
 * the result is passed down. Nothing here reads `process.env`; the Lambda entries hand it in on
 * their first invocation, the local stack and the tests build their own records.
 */
import { z } from 'zod';
import { DEFAULT_TABLE_NAME } from './table.ts';

const envSchema = z.object({
  TABLE_NAME: z.string().min(3).default(DEFAULT_TABLE_NAME),
  /** Set for DynamoDB Local; unset on AWS. */
  DYNAMODB_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  /** Used for DynamoDB Local only (with DYNAMODB_ENDPOINT); on AWS the SDK's provider chain decides. */
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  /** Number of shards of the `escrow` and `burn` system accounts. Fixed for a table's life. */
  LEDGER_SHARDS: z.coerce.number().int().min(1).max(100).default(16),
  /** Operator key in plain text (local stack and tests). */
  SYNTROPISM_OPERATOR_KEY: z.string().min(16).optional(),
  /** Secrets Manager secret holding the operator key (AWS). */
  OPERATOR_KEY_SECRET_ARN: z.string().optional(),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  NATS_SECRET_ARN: z.string().optional(),
  /**
   * The JetStream key-value bucket of the market state (09-execution.md), written by the NATS
   * bridge. Another name keeps a test's or a second local stack's state apart on a shared server.
   */
  NATS_MARKET_BUCKET: z
    .string()
    .regex(/^[-\w]+$/, 'letters, digits, - and _ only')
    .default('syntropism-market'),
  /** Shards of a round's bid partitions (write throughput of one round). */
  ROUND_BID_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  /** Settlement transactions one clearing keeps in flight at once (in-process fan-out). */
  SETTLEMENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * The queue clearing hands settlement orders to (AWS: the settlement function consumes it).
   * Unset: clearing settles in-process, `SETTLEMENT_CONCURRENCY` at a time.
   */
  SETTLEMENT_QUEUE_URL: z.string().url().optional(),
  /** Bounded retry of conflicting/throttled transactions. */
  TX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
  /** The economy (inline JSON or a file path), read by `loadEconomyConfig`; see docs/market.md. */
  SYNTROPISM_ECONOMY: z.string().optional(),
  /** Per-caller request throttling (token bucket per container). */
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(50),
  RATE_LIMIT_BURST: z.coerce.number().int().positive().default(100),
  /**
   * Where callers' buckets live: `table` (one item per caller in the table, so the limit holds
   * across every container and process) or `process` (in memory, per process: one-process use).
   */
  RATE_LIMIT_STORE: z.enum(['table', 'process']).default('table'),
  /**
   * The LLM gateway's provider: an OpenAI-compatible base URL (`https://api.openai.com/v1`).
   * Unset: the built-in offline model answers (local stack, tests).
   */
  SYNTROPISM_LLM_BASE_URL: z.string().url().optional(),
  /** The provider's key in plain text (local stack). Never logged, never in an event or an answer. */
  SYNTROPISM_LLM_API_KEY: z.string().min(1).optional(),
  /** Secrets Manager secret holding the provider's key (AWS); read once per container. */
  SYNTROPISM_LLM_SECRET_ARN: z.string().optional(),
  /**
   * How long the gateway waits for the provider: a whole answer, or for a stream its head and
   * then each gap between chunks. Below API Gateway's 30 s integration timeout by default, so a
   * hung provider answers 504 from the gateway rather than from API Gateway.
   */
  SYNTROPISM_LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).default(25_000),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  SERVICE_VERSION: z.string().default('0.1.0'),
});

export type Config = z.infer<typeof envSchema>;

/** Parses `env`; throws one message listing every invalid variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
