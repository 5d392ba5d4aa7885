/**
 * The stack's typed configuration, read once from CDK context (`cdk.json` or `-c key=value`)
 * and validated before any construct is built, so a typo fails `cdk synth` with one clear line
 * instead of deploying a half-configured stack. Every key has a documented default; only the
 * NATS connection and the optional VPC placement differ between real deployments.
 */
import { readFileSync } from 'node:fs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { z } from 'zod';
import { type EconomyConfig, parseEconomyConfig } from '../shared/core/market-config.ts';

/** Values `RetentionDays` accepts; CloudWatch rejects any other number of days. */
const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number' && v !== RetentionDays.INFINITE),
);

/** `-c key=a,b` arrives as a string, `cdk.json` may hold a real array: accept both. */
const splitList = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : v;

const fields = z.object({
  /** Deployment stage; the stack is `Syntropism-<stage>`. */
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and hyphens, starting with a letter')
    .default('dev'),
  /** Retention of every function's log group and of the API access log, in days. */
  logRetentionDays: z.coerce
    .number()
    .refine((d) => RETENTION_VALUES.has(d), 'must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, …)')
    .default(30),
  /** Steady-state request rate of the whole HTTP API, requests per second. */
  apiRateLimit: z.coerce.number().positive().default(100),
  /** Burst of the whole HTTP API, requests. */
  apiBurstLimit: z.coerce.number().int().positive().default(200),
  /** How long API Gateway caches the authorizer's verdict per `Authorization` header (0 disables). */
  authorizerCacheSeconds: z.coerce.number().int().min(0).max(3600).default(60),
  /** Shards of the `escrow` and `burn` system accounts; fixed for the table's life. */
  ledgerShards: z.coerce.number().int().min(1).max(100).default(16),
  /**
   * Name of an existing Secrets Manager secret with the NATS connection (URL and credentials).
   * When absent the stack creates an empty secret for the operator to fill in.
   */
  natsSecretName: z.string().min(1).optional(),
  /** Plain NATS URL for the bridge, for deployments whose NATS needs no credentials. */
  natsUrl: z.string().min(1).optional(),
  /** VPC of the NATS bridge, when NATS is only reachable privately. Requires `bridgeSubnetIds`. */
  bridgeVpcId: z
    .string()
    .regex(/^vpc-[0-9a-f]+$/, 'a VPC id (vpc-…)')
    .optional(),
  /** Subnets of the NATS bridge (comma-separated); they need a route to NATS and to Secrets Manager. */
  bridgeSubnetIds: z
    .preprocess(splitList, z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id')).min(1))
    .optional(),
  /** OTLP/HTTP endpoint the functions export traces to; none when absent. */
  otlpEndpoint: z.string().url().optional(),
  /** E-mail address subscribed to the alarm topic. */
  alarmEmail: z.string().email().optional(),
  /** Settlement functions settling one round's orders at once (the queue's event source maximum). */
  settlementConcurrency: z.coerce.number().int().min(2).max(1000).default(16),
  /** Length of a clearing round in seconds; the economy's `round_seconds` and the schedule's. */
  roundSeconds: z.coerce.number().int().min(5).max(3_600).optional(),
  /**
   * The economy (docs/market.md, Configuration): an object in `cdk.json`, or with `-c` inline
   * JSON or the path of a JSON file. Validated here with the functions' own schema.
   */
  economy: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  /** The LLM gateway's OpenAI-compatible provider; absent, the offline model answers. */
  llmBaseUrl: z.string().url().optional(),
  /** The gateway's provider timeout behind API Gateway (below its 30 s integration timeout). */
  llmTimeoutMs: z.coerce.number().int().min(100).max(28_000).default(25_000),
  /** The provider timeout of the streaming URL (head, then each gap between chunks). */
  llmStreamTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(60_000),
});

const contextSchema = fields
  .refine((c) => (c.bridgeVpcId === undefined) === (c.bridgeSubnetIds === undefined), {
    message: 'bridgeVpcId and bridgeSubnetIds go together',
    path: ['bridgeVpcId'],
  })
  .refine((c) => c.apiBurstLimit >= c.apiRateLimit, {
    message: 'apiBurstLimit must be at least apiRateLimit',
    path: ['apiBurstLimit'],
  });

export const CONTEXT_KEYS: readonly string[] = Object.keys(fields.shape);

export interface StackConfig {
  readonly stage: string;
  readonly logRetention: RetentionDays;
  readonly api: { readonly rateLimit: number; readonly burstLimit: number; readonly authorizerCacheSeconds: number };
  readonly ledgerShards: number;
  readonly nats: { readonly secretName?: string; readonly url?: string };
  readonly bridgeVpc?: { readonly vpcId: string; readonly subnetIds: readonly string[] };
  readonly otlpEndpoint?: string;
  readonly alarmEmail?: string;
  readonly roundSeconds: number;
  readonly settlementConcurrency: number;
  /** The resolved economy every function gets in `SYNTROPISM_ECONOMY`. */
  readonly economy: EconomyConfig;
  readonly llm: { readonly baseUrl?: string; readonly timeoutMs: number; readonly streamTimeoutMs: number };
}

/** The `economy` context value as a document: an object, inline JSON, or a JSON file's path. */
function economyDocument(value: string | Record<string, unknown> | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'string') return value;
  const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
  const doc: unknown = JSON.parse(text);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
  return doc as Record<string, unknown>;
}

/** Validates raw context values (keys absent or `undefined` take their defaults). */
export function parseStackConfig(context: Readonly<Record<string, unknown>>): StackConfig {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) throw new Error(`invalid CDK context: ${z.prettifyError(parsed.error)}`);
  const c = parsed.data;
  let economy: EconomyConfig;
  try {
    const doc = economyDocument(c.economy);
    if (c.roundSeconds !== undefined && doc.round_seconds !== undefined && doc.round_seconds !== c.roundSeconds) {
      throw new Error(`round_seconds ${String(doc.round_seconds)} contradicts roundSeconds ${c.roundSeconds}`);
    }
    economy = parseEconomyConfig({ round_seconds: 60 }, doc, c.roundSeconds && { round_seconds: c.roundSeconds });
  } catch (err) {
    throw new Error(`invalid CDK context: economy: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (economy.round_seconds < 5) {
    throw new Error('invalid CDK context: economy: round_seconds must be at least 5 on AWS');
  }
  return {
    stage: c.stage,
    logRetention: c.logRetentionDays as RetentionDays,
    api: { rateLimit: c.apiRateLimit, burstLimit: c.apiBurstLimit, authorizerCacheSeconds: c.authorizerCacheSeconds },
    ledgerShards: c.ledgerShards,
    nats: { secretName: c.natsSecretName, url: c.natsUrl },
    bridgeVpc: c.bridgeVpcId && c.bridgeSubnetIds ? { vpcId: c.bridgeVpcId, subnetIds: c.bridgeSubnetIds } : undefined,
    otlpEndpoint: c.otlpEndpoint,
    alarmEmail: c.alarmEmail,
    roundSeconds: economy.round_seconds,
    settlementConcurrency: c.settlementConcurrency,
    economy,
    llm: { baseUrl: c.llmBaseUrl, timeoutMs: c.llmTimeoutMs, streamTimeoutMs: c.llmStreamTimeoutMs },
  };
}

/** Reads this configuration's keys from a construct tree's context. */
export function loadStackConfig(node: Node): StackConfig {
  return parseStackConfig(Object.fromEntries(CONTEXT_KEYS.map((key) => [key, node.tryGetContext(key)])));
}
