/**
 * A human reward against a transfer, in the same run, on the same DynamoDB Local table: what
 * the reward transaction (the prompt's state, mint's guard and two entries, mint and the agent,
 * the agent's state, the rater's mint window, the outbox: 9 actions) costs next to a transfer
 * (7 actions), both as adapter calls (`rewards.reward`, `ledger.transfer`), and the reward
 * through the whole local API (`POST /v1/prompts/{id}/reward`: authorizer, the rater re-read,
 * the middy stack, the Idempotency-Key store).
 *
 * The prompts are written directly (what submitting one does is not measured here), one per
 * reward; agents take turns so no two calls contend. The sides alternate in blocks, one call
 * at a time, so DynamoDB Local's drift as the table grows falls on all alike. No bar: the
 * ratios are reported.
 */
import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { localHandlerEnv } from '#local/env';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, listen } from '#local/http-server';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { promptItem } from '#shared/adapters/dynamodb/prompts';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import type { AllocationRecord } from '#shared/core/allocations';
import { micros } from '#shared/core/money';
import { newPrompt, queueKey } from '#shared/core/prompts';
import { keys } from '#shared/table';
import { alternate, latencyRows, type Side as SideOf } from './lib/alternate.ts';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const AGENTS = 20;
const CALLS = Number(process.env.BENCH_REWARD_REQUESTS ?? 300);
const SCORES = { interesting: 3, useful: 4, understandable: 5 };

type Agent = { id: string; key: string };
type Side = SideOf<Agent>;

/** A pending prompt of `agentId`, written as submitting one would write it. */
function promptFor(agentId: string, n: number, now: number) {
  const allocation = {
    allocation_id: `al_${String(n).padStart(26, '0')}`,
    agent_id: agentId,
    bundle: { attention: 0.01 },
    duration_seconds: 60,
    cost: 1_000_000,
  } as AllocationRecord;
  const p = newPrompt(
    { allocation_id: allocation.allocation_id, content: `p${n}`, format: 'text' },
    allocation,
    now,
    86_400,
  );
  return {
    prompt: p,
    item: {
      ...promptItem(p),
      ...keys.promptsIndex('pending', queueKey(p)),
      ...keys.expiringPromptsIndex(p.expires_at_ms, p.prompt_id),
    },
  };
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  const tableName = await db.newTable('rewards');
  const operatorKey = randomBytes(24).toString('base64url');
  const env = {
    ...localHandlerEnv({ dynamoEndpoint: db.local.endpoint, tableName, natsUrl: 'nats://127.0.0.1:4222', operatorKey }),
    SYNTROPISM_ECONOMY: JSON.stringify({ money: { max_minted_per_rater_per_hour: 1_000_000_000 } }),
    LOG_LEVEL: 'SILENT',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  };
  const services = createServices(loadConfig(env), { table: { doc: db.doc, tableName } });
  const { handlers, authorizer } = httpFunctions(services);
  const server = createHttpServer({ handlers, authorizer });
  const url = `http://127.0.0.1:${await listen(server, 0)}`;
  const suffix = randomBytes(4).toString('hex');
  const post = async (path: string, key: string, body: unknown, idempotencyKey: string) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'idempotency-key': idempotencyKey,
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  try {
    const agents: Agent[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const made = await post(
        '/v1/agents',
        operatorKey,
        { name: `a${i}`, initial_balance: 10_000 },
        `a-${suffix}-${i}`,
      );
      agents.push({ id: String(made.agent_id), key: String(made.api_key) });
    }
    const rater = await post('/v1/raters', operatorKey, { name: 'bench' }, `r-${suffix}`);
    const raterKey = String(rater.api_key);
    const human = { role: 'rater' as const, rater_id: String(rater.rater_id) };
    const prompts = new Map<number, string>();
    const total = 3 * (2 * AGENTS + CALLS);
    for (let n = 0; n < total; n++) {
      const agent = agents[n % AGENTS] as Agent;
      const { prompt, item } = promptFor(agent.id, n, Date.now());
      await db.doc.send(new PutCommand({ TableName: tableName, Item: item }));
      prompts.set(n, prompt.prompt_id);
    }
    // Each side takes its own prompts: a reward decides a prompt once.
    const promptOf = (agent: Agent, n: number) => {
      for (let m = n; ; m++) {
        const id = prompts.get(m);
        if (id && m % AGENTS === agents.indexOf(agent)) {
          prompts.delete(m);
          return id;
        }
      }
    };
    const sides: Record<'api reward' | 'rewards.reward' | 'ledger.transfer', Side> = {
      'api reward': async (a, n) => {
        const body = { ...SCORES, reason: 'bench' };
        await post(`/v1/prompts/${promptOf(a, n)}/reward`, raterKey, body, `rw-${suffix}-${n}`);
      },
      'rewards.reward': async (a, n) => {
        const req = { scores: SCORES, reason: 'bench', request_id: `rw_core_${suffix}_${n}` };
        await services.rewards.reward(promptOf(a, n), human, req, {});
      },
      'ledger.transfer': async (a, n) => {
        const to = agents[(agents.indexOf(a) + 1) % AGENTS] as Agent;
        const req = {
          transfer_id: `bench-${suffix}-${n}`,
          from: a.id,
          to: to.id,
          amount: micros(500_000),
          purpose: 'transfer' as const,
          reference: null,
        };
        await services.ledger.transfer(req, { actor: a.id, ctx: {} });
      },
    };
    await alternate(sides, agents, 2 * AGENTS, 0); // warm-up
    const measured = await alternate(sides, agents, CALLS, 3 * 2 * AGENTS);
    const audit = await auditLedger({ client: db.doc, tableName });
    if (!audit.ok) throw new Error(`audit failed after the benchmark: ${JSON.stringify(audit.problems)}`);
    const rows = latencyRows(measured);
    const p50 = (what: string) => rows.find((r) => r.what === what)?.p50 ?? Number.NaN;
    const summary = {
      reward_api_p50_ms: Number(p50('api reward').toFixed(1)),
      reward_core_p50_ms: Number(p50('rewards.reward').toFixed(1)),
      transfer_core_p50_ms: Number(p50('ledger.transfer').toFixed(1)),
      reward_over_transfer: Number((p50('rewards.reward') / p50('ledger.transfer')).toFixed(2)),
      api_over_core: Number((p50('api reward') / p50('rewards.reward')).toFixed(2)),
    };
    printTable(rows, 'A human reward against a transfer (DynamoDB Local, ms, one call at a time)');
    const result: BenchResult = { name: 'rewards', summary, rows };
    writeResult('rewards', result);
    return result;
  } finally {
    await closeHttpServer(server);
    await db.stop();
  }
}

if (isMain(import.meta.url)) {
  await run();
}
