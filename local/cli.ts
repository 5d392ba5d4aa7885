/**
 * `syntropism start | audit | exec`: the local stack (DynamoDB Local, NATS, the HTTP API through
 * the real handlers, background services) in one process tree that stops cleanly on Ctrl-C,
 * the ledger audit of a table, local or on AWS, and the execution runner (local/exec/).
 * Missing prerequisites end in one line on stderr, never a stack trace.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { DEFAULT_STREAM } from '#shared/adapters/nats/stream';
import { createServices } from '#shared/adapters/services';
import { initTelemetryFrom } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import { EVENT_TYPES } from '#shared/core/events';
import { formatCredits } from '#shared/core/money';
import { DEFAULT_TABLE_NAME } from '#shared/table';
import { createTable } from './create-table.ts';
import { assertJava, startDynamoDbLocal } from './dynamodb-local.ts';
import { credentialsFromEnv, type EnvRecord, generateOperatorKey, localConfig } from './env.ts';
import { type FollowOptions, followEvents } from './events-follow.ts';
import { ApiRefusal } from './exec/api.ts';
import { type ExecOptions, runExec } from './exec/runner.ts';
import { httpFunctions } from './http-functions.ts';
import { closeHttpServer, createHttpServer, listen } from './http-server.ts';
import { type InvokeOptions, InvokeUsageError, invoke, parseInvokeArgs } from './invoke.ts';
import { releaseDeadLeases } from './leases.ts';
import { marketServices } from './market-services.ts';
import { connectNats, spawnNats } from './nats.ts';
import { DEFAULT_POPULATION, type PopulationOptions, populationServices } from './population/index.ts';
import { isPortFree } from './ports.ts';
import { describeExit, type ExitInfo, PrerequisiteError } from './processes.ts';
import {
  type BackgroundService,
  type RunningService,
  type StackContext,
  type StartOptions,
  startBackgroundServices as startServicesInOrder,
} from './stack.ts';
import {
  dataRootOf,
  keptOperatorKey,
  localAuditTarget,
  natsStoreOf,
  noLocalData,
  OPERATOR_KEY_FILE,
} from './stack-data.ts';
import { acquireStackLock, runningStack, type StackLock, type StackServer, startWatchdog } from './stack-lock.ts';
import { readTop, renderTop } from './top.ts';

/** Printed once everything listens; scripts and tests wait for it. */
export const READY_PREFIX = 'ready:';

/** A bad command line. Its message is shown as is, with a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected failure of a command, explained by its one-line message. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

/** This package's version, as `--version` prints it. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

const USAGE = `Usage:
  syntropism start [options]   run the local stack (API on http://localhost:3000)
    --port N          HTTP port (default: PORT or 3000; 0 picks a free one)
    --host H          interface to listen on (default 127.0.0.1)
    --in-memory       keep no data (default: .syntropism/, one stack per folder)
    --round D         clearing round length in whole seconds, e.g. 2s, 1m (default 5s)
    --verbose         log every request
    --agents N        simulated agents, every strategy from 7 on (default 8)
    --seed S          seed of the agents' and the human's decisions (default 42)
    --no-agents       no simulated agents (the API, the market and the human only)
    --no-human        no simulated human rewarding prompts (rate them yourself)
    --human-pace D    least time between the simulated human's rewards (default 3s)
  syntropism audit [options]   check the ledger invariants of a table; with no flags the
                               local stack's own (running, or its data in .syntropism/)
    --endpoint URL    DynamoDB endpoint (default: DYNAMODB_ENDPOINT, else AWS)
    --table NAME      table (default: TABLE_NAME or ${DEFAULT_TABLE_NAME})
    --region R        AWS region (default: AWS_REGION or the SDK's default)
    --json            print the full report as JSON
  syntropism exec --allocation ID [options] -- COMMAND [ARGS…]
                               run COMMAND inside an allocation: memory and cpu limited
                               to its bundle, killed at its end (SYNTROPISM_API_KEY: the
                               agent's key; see docs/execution-runner.md)
    --allocation ID   the allocation (one of the agent's, active now)
    --api URL         the API (default: SYNTROPISM_API_URL or http://localhost:3000)
    --grace D         between SIGTERM and SIGKILL at the end, e.g. 5s (default 5s)
  syntropism events --follow [options]
                               print events from NATS as they come, one line each (Ctrl-C stops)
    --type T          only events of this type, e.g. bid_placed
    --agent ID        only events about this agent
    --scenario ID     only events of this scenario
    --all             from the start of the stream, not from now
    --nats URL        NATS (default: NATS_URL, else the local stack's own)
    --stream NAME     JetStream stream (default SYNTROPISM)
  syntropism invoke FUNCTION EVENT.json [--endpoint URL] [--table NAME]
                               run one function's handler on an event (events/ has one per
                               function) against the local stack's table: sam local invoke's twin
  syntropism top [--api URL] [--key KEY] [--once]
                               a live view of rounds, prices and the money supply (the local
                               stack's API and operator key by default)
  syntropism --version         print the version`;

// ---------------------------------------------------------------------------------------------
// Command-line parsing

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `1.5s`, `1m`, `1h` → milliseconds. A bare number is refused as ambiguous. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const unit = match?.[2] === undefined ? undefined : DURATION_UNITS[match[2]];
  if (!match || unit === undefined) {
    throw new UsageError(`invalid duration "${text}": use a number with a unit, e.g. 500ms, 5s, 1m`);
  }
  const ms = Math.round(Number(match[1]) * unit);
  if (ms <= 0) throw new UsageError(`invalid duration "${text}": must be greater than zero`);
  return ms;
}

/** `5000` → `5s`, `500` → `500ms`, for messages. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`invalid ${name} "${text}": expected an integer from ${min} to ${max}`);
  }
  return value;
}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

export type { StartOptions } from './stack.ts';

export function parseStartArgs(args: string[], env: EnvRecord): StartOptions {
  const { values } = parse({
    args,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'in-memory': { type: 'boolean' },
      round: { type: 'string' },
      verbose: { type: 'boolean' },
      agents: { type: 'string' },
      seed: { type: 'string' },
      'no-agents': { type: 'boolean' },
      'no-human': { type: 'boolean' },
      'human-pace': { type: 'string' },
    },
  });
  const roundMs = parseDuration(values.round ?? '5s');
  // Rounds are windows of `round_seconds` on the epoch grid, the same on AWS and locally.
  if (roundMs < 1000 || roundMs % 1000 !== 0) {
    throw new UsageError(`--round must be a whole number of seconds, e.g. 2s (got ${values.round})`);
  }
  const portText = values.port ?? env.PORT;
  return {
    port: portText === undefined || portText === '' ? 3000 : parseInteger('port', portText, 0, 65_535),
    host: values.host ?? '127.0.0.1',
    inMemory: values['in-memory'] ?? false,
    dataDir: resolve('.syntropism', 'dynamodb'),
    roundMs,
    verbose: values.verbose ?? false,
    population: populationOptions(values),
  };
}

function populationOptions(values: {
  agents?: string | undefined;
  seed?: string | undefined;
  'no-agents'?: boolean | undefined;
  'no-human'?: boolean | undefined;
  'human-pace'?: string | undefined;
}): PopulationOptions {
  if (values['no-agents'] && values.agents !== undefined) throw new UsageError('--agents and --no-agents conflict');
  const agents = values['no-agents']
    ? 0
    : values.agents === undefined
      ? DEFAULT_POPULATION.agents
      : parseInteger('agents', values.agents, 0, 100);
  return {
    agents,
    seed: values.seed === undefined ? DEFAULT_POPULATION.seed : parseInteger('seed', values.seed, 0, 2 ** 32 - 1),
    human: !values['no-human'],
    humanPaceMs:
      values['human-pace'] === undefined ? DEFAULT_POPULATION.humanPaceMs : parseDuration(values['human-pace']),
  };
}

export interface AuditOptions {
  /** Absent: the SDK's default endpoint (AWS). */
  endpoint?: string;
  tableName: string;
  region?: string;
  json: boolean;
  /** No flag named a table: the local stack's own, found through its data folder. */
  local?: { root: string };
}

export function parseAuditArgs(args: string[], env: EnvRecord): AuditOptions {
  const { values } = parse({
    args,
    strict: true,
    options: {
      endpoint: { type: 'string' },
      table: { type: 'string' },
      region: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const endpoint = values.endpoint ?? env.DYNAMODB_ENDPOINT;
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw new UsageError(`invalid endpoint URL "${endpoint}"`);
  const region = values.region ?? env.AWS_REGION;
  const tableName = values.table ?? env.TABLE_NAME ?? DEFAULT_TABLE_NAME;
  const json = values.json ?? false;
  // Without a flag that names a table elsewhere, the table is the local stack's own.
  const named = endpoint !== undefined || values.region !== undefined || values.table !== undefined;
  if (!named) return { tableName, json, local: { root: resolve('.syntropism') } };
  return {
    ...(endpoint !== undefined ? { endpoint } : {}),
    tableName,
    ...(region !== undefined ? { region } : {}),
    json,
  };
}

/** `exec`'s options before `--`, the command after it; the key comes from the environment. */
export function parseExecArgs(args: string[], env: EnvRecord): ExecOptions {
  const split = args.indexOf('--');
  if (split < 0 || split === args.length - 1) throw new UsageError('exec needs a command after --');
  const { values } = parse({
    args: args.slice(0, split),
    strict: true,
    options: { allocation: { type: 'string' }, api: { type: 'string' }, grace: { type: 'string' } },
  });
  if (!values.allocation) throw new UsageError('exec needs --allocation ID');
  const apiUrl = values.api ?? env.SYNTROPISM_API_URL ?? 'http://localhost:3000';
  if (!URL.canParse(apiUrl)) throw new UsageError(`invalid API URL "${apiUrl}"`);
  const apiKey = env.SYNTROPISM_API_KEY;
  if (!apiKey) throw new UsageError("exec needs the agent's key in SYNTROPISM_API_KEY");
  const scenarioId = env.SYNTROPISM_SCENARIO_ID || undefined;
  return {
    allocationId: values.allocation,
    apiUrl,
    apiKey,
    ...(scenarioId !== undefined && { scenarioId }),
    graceMs: parseDuration(values.grace ?? '5s'),
    command: args.slice(split + 1),
    env,
  };
}

async function exec(options: ExecOptions): Promise<number> {
  try {
    return await runExec(options);
  } catch (error) {
    if (error instanceof ApiRefusal) throw new CommandFailed(`syntropism exec: ${error.message} (${error.code})`);
    if (error instanceof TypeError && error.message === 'fetch failed') {
      throw new CommandFailed(`syntropism exec: nothing answers at ${options.apiUrl} (is the API running?)`);
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Background services (extension point)

export type { BackgroundService, RunningService, StackContext } from './stack.ts';

/**
 * Extension point: the services that run beside the HTTP API, in start order. Their place:
 * the stream poller standing in for the Pipe, the local bus applying the shared rules, the
 * NATS bridge, the price updater, the clearing timer (`ctx.options.roundMs`), then the
 * simulated population (local/population/), which needs all of them. They start
 * after the API listens and stop in reverse order before it closes.
 */
export function backgroundServices(ctx: StackContext): BackgroundService[] {
  return [...marketServices(ctx), ...populationServices(ctx, ctx.options.population ?? DEFAULT_POPULATION)];
}

/** Starts `services` (default: `backgroundServices(ctx)`) in order; see stack.ts. */
export function startBackgroundServices(
  ctx: StackContext,
  services: BackgroundService[] = backgroundServices(ctx),
): Promise<Array<RunningService & { name: string }>> {
  return startServicesInOrder(services);
}

// ---------------------------------------------------------------------------------------------
// start

/**
 * The economy of the local stack: the operator's `SYNTROPISM_ECONOMY` (inline JSON or a file)
 * with `round_seconds` from `--round`.
 */
export function localEconomy(roundMs: number, given: string | undefined): string {
  let base: Record<string, unknown> = {};
  if (given?.trim()) {
    const text = given.trim().startsWith('{') ? given : readFileSync(given.trim(), 'utf8');
    base = JSON.parse(text) as Record<string, unknown>;
  }
  return JSON.stringify({ ...base, round_seconds: roundMs / 1000 });
}

/** Things to stop, in reverse order of starting. Adding after stopping began stops at once. */
class Teardown {
  private readonly steps: Array<{ name: string; stop: () => Promise<void> }> = [];
  private stopping: Promise<string[]> | undefined;

  get started(): boolean {
    return this.stopping !== undefined;
  }

  add(name: string, stop: () => Promise<void>): void {
    if (this.stopping) void stop().catch(() => {});
    else this.steps.push({ name, stop });
  }

  /** Runs every step even if some fail; resolves with the failures, one line each. */
  run(): Promise<string[]> {
    this.stopping ??= (async () => {
      const failures: string[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step.stop();
        } catch (error) {
          failures.push(`could not stop ${step.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return failures;
    })();
    return this.stopping;
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

/** Signals arriving this soon after the first are the same Ctrl-C relayed by npm/tsx. */
const SIGNAL_ECHO_MS = 500;

/** The stack's lifecycle: what to stop, and the exit code once stopped. */
interface Lifecycle {
  teardown: Teardown;
  shutdown(code: number): void;
  done: Promise<number>;
  /** Whether a Ctrl-C arrived (a failure after it is expected). */
  interrupted(): boolean;
}

function lifecycle(): Lifecycle {
  const teardown = new Teardown();
  let settle: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    settle = resolve;
  });
  const shutdown = (code: number) => {
    if (teardown.started) return;
    void teardown.run().then((failures) => {
      for (const failure of failures) err(failure);
      if (failures.length === 0) out('stopped');
      settle(failures.length > 0 ? 1 : code);
    });
  };
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      out(`${signal === 'SIGINT' ? '\n' : ''}stopping (Ctrl-C again to force)…`);
      shutdown(0);
    } else if (Date.now() - firstSignalAt > SIGNAL_ECHO_MS) {
      // process.exit runs the exit hooks that SIGKILL DynamoDB Local and nats-server.
      err('forced exit');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { teardown, shutdown, done, interrupted: () => firstSignalAt !== undefined };
}

const portInUse = (port: number) =>
  new PrerequisiteError(`port ${port} is already in use: stop what listens there or pass --port N`);

/** Cheap checks first, so a missing prerequisite fails before Java spends seconds starting. */
async function checkPrerequisites(options: StartOptions, env: EnvRecord): Promise<string | undefined> {
  if (options.port !== 0 && !(await isPortFree(options.port, options.host))) throw portInUse(options.port);
  const givenKey = env.SYNTROPISM_OPERATOR_KEY || undefined;
  if (givenKey !== undefined && givenKey.length < 16) {
    throw new PrerequisiteError('SYNTROPISM_OPERATOR_KEY must be at least 16 characters (or unset it to generate one)');
  }
  assertJava();
  return givenKey;
}

/**
 * NATS and DynamoDB Local (with the table), each stopped by the teardown and watched by the
 * watchdog. NATS_URL set: that server, which must answer; unset: a nats-server of this stack's
 * own, its store in the data folder (a temporary one in memory).
 */
async function startServers(options: StartOptions, env: EnvRecord, life: Lifecycle, lock?: StackLock) {
  const root = dataRootOf(options.dataDir);
  const nats = env.NATS_URL
    ? await connectNats(env.NATS_URL)
    : await spawnNats(options.inMemory ? {} : { storeDir: natsStoreOf(root) });
  life.teardown.add('NATS', nats.stop);
  watchExit('nats-server', nats.exited, life.teardown, life.shutdown);

  const dynamo = await startDynamoDbLocal(options.inMemory ? { inMemory: true } : { dataDir: options.dataDir });
  life.teardown.add('DynamoDB Local', dynamo.stop);
  watchExit('DynamoDB Local', dynamo.exited, life.teardown, life.shutdown);
  const servers: StackServer[] = [
    { name: 'DynamoDB Local', pid: dynamo.pid ?? 0, marker: options.inMemory ? 'DynamoDBLocal' : options.dataDir },
    ...(nats.spawned ? [{ name: 'nats-server', pid: nats.pid ?? 0, marker: 'nats-server' }] : []),
  ].filter((s) => s.pid > 0);
  const watchdog = startWatchdog(servers);
  life.teardown.add('watchdog', async () => watchdog.stop());
  lock?.update({ servers, dynamo_endpoint: dynamo.endpoint, nats_url: nats.url });

  const tableName = env.TABLE_NAME ?? DEFAULT_TABLE_NAME;
  const clients = dynamoClients({ endpoint: dynamo.endpoint, region: env.AWS_REGION ?? 'us-east-1' });
  try {
    await createTable(clients.raw, tableName);
    // The folder is this stack's alone: a clearing lease on its table is a dead predecessor's.
    if (lock) {
      for (const r of await releaseDeadLeases({ doc: clients.doc, tableName }, Date.now())) {
        out(
          `took over round ${r.round} from a stack that stopped while clearing it (its lease ran until ${new Date(r.lease_until).toISOString()})`,
        );
      }
    }
  } finally {
    clients.destroy();
  }
  return { nats, dynamo, tableName };
}

/** The API on `options.port`, its handlers composed from `config`; resolves with its base URL. */
async function startApi(options: StartOptions, config: Config, life: Lifecycle): Promise<string> {
  // As a Lambda container does on its first request: spans give requests and events their trace.
  initTelemetryFrom(config, 'syntropism');
  const { handlers, authorizer } = httpFunctions(createServices(config));
  const server = createHttpServer({ handlers, authorizer, verbose: options.verbose });
  let port: number;
  try {
    port = await listen(server, options.port, options.host);
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') throw portInUse(options.port);
    throw error;
  }
  life.teardown.add('HTTP API', () => closeHttpServer(server));
  const host = options.host === '127.0.0.1' || options.host === '0.0.0.0' ? 'localhost' : options.host;
  return `http://${host}:${port}`;
}

function printBanner(ctx: StackContext, natsSpawned: boolean, keyNote: string, startedAt: number): void {
  const { options } = ctx;
  const dataNote = options.inMemory ? 'in memory' : `data in ${relative(process.cwd(), options.dataDir) || '.'}`;
  out('Syntropism local stack');
  out(`  API           ${ctx.apiUrl}`);
  out(`  DynamoDB      ${ctx.dynamoEndpoint} (table ${ctx.tableName}, ${dataNote})`);
  out(`  NATS          ${ctx.natsUrl}${natsSpawned ? ' (started here)' : ''}`);
  out(`  market state  key-value bucket ${ctx.config.NATS_MARKET_BUCKET} on NATS (prices after every round)`);
  out(`  operator key  ${ctx.operatorKey}${keyNote}`);
  out(`  rounds        every ${formatDuration(options.roundMs)} (clearing, price update, events to NATS)`);
  // With a data folder, `audit` finds this stack by itself (and its data once it stopped).
  const auditFlags = options.inMemory ? ` --endpoint ${ctx.dynamoEndpoint} --table ${ctx.tableName}` : '';
  out(`  audit         npx syntropism audit${auditFlags}`);
  out(`${READY_PREFIX} ${ctx.apiUrl} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (Ctrl-C to stop)`);
}

/** The data folder for this stack alone (none in memory); released last by the teardown. */
function lockDataFolder(options: StartOptions, life: Lifecycle): StackLock | undefined {
  if (options.inMemory) return undefined;
  const lock = acquireStackLock(dataRootOf(options.dataDir), out);
  life.teardown.add('stack record', async () => lock.release());
  return lock;
}

/** The given key; else, with data, the one kept with it; else a new one. */
function operatorKeyOf(options: StartOptions, givenKey: string | undefined) {
  if (givenKey !== undefined) return { key: givenKey, note: '' };
  if (options.inMemory)
    return { key: generateOperatorKey(), note: ' (generated; set SYNTROPISM_OPERATOR_KEY to fix one)' };
  const kept = keptOperatorKey(dataRootOf(options.dataDir));
  const where = relative(process.cwd(), join(dataRootOf(options.dataDir), 'operator-key'));
  return { key: kept.key, note: ` (${kept.generated ? 'generated and kept' : 'kept'} in ${where})` };
}

async function start(options: StartOptions, env: EnvRecord): Promise<number> {
  const startedAt = Date.now();
  const life = lifecycle();
  try {
    const lock = lockDataFolder(options, life);
    const givenKey = await checkPrerequisites(options, env);
    const { nats, dynamo, tableName } = await startServers(options, env, life, lock);
    lock?.update({ table: tableName });
    const operator = operatorKeyOf(options, givenKey);
    const input = {
      dynamoEndpoint: dynamo.endpoint,
      tableName,
      natsUrl: nats.url,
      operatorKey: operator.key,
    };
    const economy = { SYNTROPISM_ECONOMY: localEconomy(options.roundMs, env.SYNTROPISM_ECONOMY) };
    const config = localConfig(input, env, economy);
    const apiUrl = await startApi(options, config, life);
    lock?.update({ api_url: apiUrl });
    const ctx: StackContext = { options, config, ...input, apiUrl, log: out };
    for (const service of await startBackgroundServices(ctx)) life.teardown.add(service.name, service.stop);
    if (life.teardown.started) return life.done;
    printBanner(ctx, nats.spawned, operator.note, startedAt);
  } catch (error) {
    const failures = await life.teardown.run();
    // A Ctrl-C during startup stops what had started; what fails after that is expected.
    if (life.interrupted()) return failures.length > 0 ? 1 : 0;
    for (const failure of failures) err(failure);
    throw error;
  }
  return life.done;
}

/** Stops the stack if a child process dies on its own. */
function watchExit(
  name: string,
  exited: Promise<ExitInfo> | undefined,
  teardown: Teardown,
  shutdown: (code: number) => void,
): void {
  void exited?.then((info) => {
    if (teardown.started) return;
    err(`${name} exited unexpectedly (${describeExit(info)}); stopping`);
    shutdown(1);
  });
}

// ---------------------------------------------------------------------------------------------
// audit

/** `audit` of the local stack's table: the running stack's, or its data's with a DynamoDB Local of its own. */
async function auditLocal(root: string, options: AuditOptions, env: EnvRecord): Promise<number> {
  const target = localAuditTarget(root, options.tableName);
  if (target.kind === 'none') throw new CommandFailed(noLocalData(root));
  const base = { ...options, local: undefined, region: 'us-east-1' };
  if (target.kind === 'running') {
    return audit({ ...base, endpoint: target.record.dynamo_endpoint, tableName: target.record.table }, env);
  }
  const dynamo = await startDynamoDbLocal({ dataDir: target.dataDir });
  try {
    return await audit({ ...base, endpoint: dynamo.endpoint, tableName: target.table }, env);
  } finally {
    await dynamo.stop();
  }
}

async function audit(options: AuditOptions, env: EnvRecord): Promise<number> {
  if (options.local) return auditLocal(options.local.root, options, env);
  const credentials = credentialsFromEnv(env);
  const clients = dynamoClients({
    // DynamoDB Local needs some region; on AWS the SDK's own resolution applies.
    ...(options.region !== undefined ? { region: options.region } : options.endpoint ? { region: 'us-east-1' } : {}),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(credentials && { credentials }),
  });
  const client = clients.doc;
  const where = `table ${options.tableName}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
  try {
    const report = await auditLedger({ client, tableName: options.tableName });
    if (options.json) {
      out(JSON.stringify(report, null, 2));
    } else {
      out(`audit of ${where}: ${report.ok ? 'OK' : `${report.problems.length} problem(s)`}`);
      out(`  ${report.accounts} accounts, ${report.transfers} transfers, ${report.entries} entries`);
      const t = report.totals;
      const credits = (micros: number) => (Number.isSafeInteger(micros) ? formatCredits(micros) : micros);
      out(
        `  credits: minted ${credits(t.minted)}, burned ${credits(t.burned)}, escrowed ${credits(t.escrowed)}, ` +
          `held by agents ${credits(t.agents)}, sum of balances ${credits(t.sum_of_balances)}`,
      );
      for (const problem of report.problems) out(`  problem: ${problem}`);
    }
    return report.ok ? 0 : 1;
  } catch (error) {
    throw new CommandFailed(`audit of ${where} failed: ${describeAwsError(error)}`);
  } finally {
    clients.destroy();
  }
}

function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'ResourceNotFoundException') return 'the table does not exist';
  const code = 'code' in error ? String(error.code) : '';
  if (code === 'ECONNREFUSED') return 'nothing answers at the endpoint (is the local stack running?)';
  return `${error.name}: ${error.message.split('\n')[0]}`;
}

// ---------------------------------------------------------------------------------------------
// events

export function parseEventsArgs(args: string[], env: EnvRecord): FollowOptions {
  const { values } = parse({
    args,
    strict: true,
    options: {
      follow: { type: 'boolean' },
      type: { type: 'string' },
      agent: { type: 'string' },
      scenario: { type: 'string' },
      all: { type: 'boolean' },
      nats: { type: 'string' },
      stream: { type: 'string' },
    },
  });
  if (!values.follow) throw new UsageError('events needs --follow (the stored log is GET /v1/events)');
  if (values.type !== undefined && !Object.hasOwn(EVENT_TYPES, values.type)) {
    throw new UsageError(`unknown event type "${values.type}"`);
  }
  const natsUrl = values.nats ?? env.NATS_URL ?? runningStack(resolve('.syntropism'))?.nats_url;
  if (!natsUrl)
    throw new CommandFailed('no NATS to follow: pass --nats URL or set NATS_URL (no local stack runs here)');
  return {
    natsUrl,
    stream: values.stream ?? DEFAULT_STREAM.name,
    all: values.all ?? false,
    ...(values.type !== undefined && { type: values.type }),
    ...(values.agent !== undefined && { agent: values.agent }),
    ...(values.scenario !== undefined && { scenario: values.scenario }),
  };
}

async function events(options: FollowOptions): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await followEvents(options, out, stop.signal);
    return 0;
  } catch (error) {
    if (stop.signal.aborted) return 0;
    throw new CommandFailed(
      `events from ${options.natsUrl}: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// top

export interface TopOptions {
  api: string;
  key: string;
  once: boolean;
}

/** The API and operator key: flags, else the environment, else the running local stack's. */
export function parseTopArgs(args: string[], env: EnvRecord): TopOptions {
  const { values } = parse({
    args,
    strict: true,
    options: { api: { type: 'string' }, key: { type: 'string' }, once: { type: 'boolean' } },
  });
  const root = resolve('.syntropism');
  const api = values.api ?? env.SYNTROPISM_API_URL ?? runningStack(root)?.api_url;
  if (!api) throw new CommandFailed('no API to watch: pass --api URL (no local stack runs here)');
  const keyFile = join(root, OPERATOR_KEY_FILE);
  const key =
    values.key ?? env.SYNTROPISM_OPERATOR_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '');
  if (!key) throw new CommandFailed('no operator key: pass --key or set SYNTROPISM_OPERATOR_KEY');
  return { api, key, once: values.once ?? false };
}

async function top(options: TopOptions): Promise<number> {
  const draw = async () => {
    const { market, economy, last } = await readTop(options.api, options.key);
    return renderTop(market, last, economy, Date.now()).join('\n');
  };
  try {
    if (options.once || !process.stdout.isTTY) {
      out(await draw());
      return 0;
    }
    for (;;) {
      // Home and clear, then the screen: a redraw without scrolling.
      process.stdout.write(`\x1b[H\x1b[2J${await draw()}\n(Ctrl-C to stop)\n`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } catch (error) {
    throw new CommandFailed(`top of ${options.api}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// invoke

/** One function's handler on an event file, against the running local stack's table by default. */
async function invokeCommand(args: string[], env: EnvRecord): Promise<number> {
  const running = runningStack(resolve('.syntropism'));
  const stack = running?.dynamo_endpoint
    ? { DYNAMODB_ENDPOINT: running.dynamo_endpoint, ...(running.table && { TABLE_NAME: running.table }) }
    : {};
  let options: InvokeOptions;
  try {
    options = parseInvokeArgs(args, { ...stack, ...env });
  } catch (error) {
    if (error instanceof InvokeUsageError) throw new UsageError(error.message.split('\n')[0] ?? error.message);
    throw error;
  }
  try {
    out(JSON.stringify(await invoke(options), null, 2));
    return 0;
  } catch (error) {
    if (error instanceof InvokeUsageError) throw new CommandFailed(error.message);
    throw new CommandFailed(
      `invocation of ${options.fn} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** Runs one command; resolves with the process exit code. */
export async function main(argv: string[], env: EnvRecord = process.env): Promise<number> {
  // Node 20 is a supported engine of this project (package.json `engines`); the SDK's notice
  // that its future releases need Node 22 is not something a user of the CLI can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [command, ...rest] = argv;
  if (command === undefined) {
    err(USAGE);
    return 1;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    out(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    out(`syntropism ${VERSION}`);
    return 0;
  }
  // What follows `--` is the command `exec` runs, whose own flags are not ours.
  const ours = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (ours.includes('--help') || ours.includes('-h')) {
    out(USAGE);
    return 0;
  }
  if (command === 'start') return start(parseStartArgs(rest, env), env);
  if (command === 'audit') return audit(parseAuditArgs(rest, env), env);
  if (command === 'exec') return exec(parseExecArgs(rest, env));
  if (command === 'events') return events(parseEventsArgs(rest, env));
  if (command === 'invoke') return invokeCommand(rest, env);
  if (command === 'top') return top(parseTopArgs(rest, env));
  throw new UsageError(`unknown command "${command}"`);
}

/** Runs the CLI and exits; expected failures print one line, unexpected ones too unless --verbose. */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        err(`syntropism: ${error.message} (see syntropism --help)`);
      } else if (error instanceof PrerequisiteError || error instanceof CommandFailed) {
        err(error.message);
      } else if (argv.includes('--verbose') || process.env.DEBUG) {
        err(error instanceof Error ? (error.stack ?? error.message) : String(error));
      } else {
        err(`syntropism: ${error instanceof Error ? error.message : String(error)}`);
      }
      process.exit(1);
    },
  );
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) runCli(process.argv.slice(2));
