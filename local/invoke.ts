/**
 * `npm run invoke -- <function> <event.json>`: runs one function's handler in this process on an
 * event file (`events/` holds a sample per function), against the local stack's table, and
 * prints what it returns: the Docker-free twin of `sam local invoke`.
 *
 * Every handler is composed here from the configuration built from the options: the non-HTTP
 * functions by their own `makeHandler` and deps builder, the HTTP functions and the authorizer
 * from a `Services` object, as the local stack serves them (local/http-functions.ts).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Context } from 'aws-lambda';
import * as clearing from '#functions/clearing';
import * as eventLog from '#functions/event-log';
import * as llmStream from '#functions/llm-stream';
import * as natsBridge from '#functions/nats-bridge';
import * as outboxRelay from '#functions/outbox-relay';
import * as priceUpdate from '#functions/price-update';
import * as settlement from '#functions/settlement';
import * as sweeper from '#functions/sweeper';
import { createServices } from '#shared/adapters/services';
import { initTelemetryFrom } from '#shared/adapters/telemetry/tracing';
import { type Config, loadConfig } from '#shared/config';
import { HTTP_FUNCTIONS, type HttpFunction } from '#shared/http/routes';
import { DEFAULT_TABLE_NAME } from '#shared/table';
import type { EnvRecord } from './env.ts';
import { httpFunctions } from './http-functions.ts';

// biome-ignore lint/suspicious/noExplicitAny: each handler checks its own event; the file is untyped JSON
type AnyHandler = (event: any, context: Context) => Promise<unknown>;

/** The non-HTTP functions, each built from the configuration as its Lambda entry builds it. */
export const BACKGROUND_FUNCTIONS: Record<string, (config: Config) => AnyHandler> = {
  clearing: (config) => clearing.makeHandler(clearing.clearingDepsOf(config)),
  'price-update': (config) => priceUpdate.makeHandler(priceUpdate.priceUpdateDepsOf(config)),
  'event-log': (config) => eventLog.makeHandler(eventLog.eventLogDepsOf(config)),
  'nats-bridge': (config) => natsBridge.makeHandler(natsBridge.natsBridgeDepsOf(config)),
  'outbox-relay': (config) => outboxRelay.makeHandler(outboxRelay.outboxRelayDepsOf(config)),
  sweeper: (config) => sweeper.makeHandler(sweeper.sweeperDepsOf(config)),
  settlement: (config) => settlement.makeHandler(settlement.settlementDepsOf(config)),
  'llm-stream': (config) => collected(llmStream.llmStreamOf(config)),
};

/** A streaming handler run to its end: what it wrote (prelude and body), as text. */
function collected(handler: ReturnType<typeof llmStream.llmStreamOf>): AnyHandler {
  return async (event, context) => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await handler(event, out, context);
    return Buffer.concat(chunks).toString('utf8').replace('\u0000'.repeat(8), '\n\n');
  };
}

export const FUNCTION_NAMES = [...Object.keys(BACKGROUND_FUNCTIONS), 'authorizer', ...HTTP_FUNCTIONS];

export interface InvokeOptions {
  /** A name of FUNCTION_NAMES (`http/health` is accepted for `health`). */
  fn: string;
  eventPath: string;
  /** Variables of the handlers: the caller's, with the local stack's endpoint and table over them. */
  env: Record<string, string | undefined>;
}

export class InvokeUsageError extends Error {
  override readonly name = 'InvokeUsageError';
}

const USAGE = `Usage: npm run invoke -- <function> <event.json> [--endpoint URL] [--table NAME]
  function   ${FUNCTION_NAMES.join(', ')}
  --endpoint the local stack's DynamoDB (its "DynamoDB" line; default DYNAMODB_ENDPOINT)
  --table    default TABLE_NAME or ${DEFAULT_TABLE_NAME}`;

export function parseInvokeArgs(args: string[], env: EnvRecord): InvokeOptions {
  const config = {
    args,
    allowPositionals: true,
    options: { endpoint: { type: 'string' }, table: { type: 'string' } },
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    throw new InvokeUsageError(error instanceof Error ? error.message : String(error));
  }
  const [name, eventPath, ...extra] = parsed.positionals;
  const fn = name?.replace(/^http\//, '');
  if (!fn || !eventPath || extra.length > 0) throw new InvokeUsageError(USAGE);
  if (!FUNCTION_NAMES.includes(fn)) throw new InvokeUsageError(`unknown function "${name}"\n${USAGE}`);
  const endpoint = parsed.values.endpoint ?? env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new InvokeUsageError(`pass --endpoint: the DynamoDB line that \`npm start\` prints\n${USAGE}`);
  return {
    fn,
    eventPath,
    env: {
      ...env,
      DYNAMODB_ENDPOINT: endpoint,
      TABLE_NAME: parsed.values.table ?? env.TABLE_NAME ?? DEFAULT_TABLE_NAME,
      AWS_REGION: env.AWS_REGION ?? 'us-east-1',
    },
  };
}

function lambdaContext(fn: string): Context {
  const name = `syntropism-${fn}`;
  const deadline = Date.now() + 30_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `invoke-${Date.now()}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local/invoke',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function handlerFor(options: InvokeOptions): AnyHandler {
  const config = loadConfig(options.env);
  const build = BACKGROUND_FUNCTIONS[options.fn];
  if (build) return build(config);
  initTelemetryFrom(config, 'syntropism');
  const { handlers, authorizer } = httpFunctions(createServices(config));
  return (options.fn === 'authorizer' ? authorizer : handlers[options.fn as HttpFunction]) as AnyHandler;
}

/** Runs the function on the event file; resolves with what the handler returned. */
export async function invoke(options: InvokeOptions): Promise<unknown> {
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(options.eventPath, 'utf8'));
  } catch (error) {
    throw new InvokeUsageError(`cannot read ${options.eventPath}: ${error instanceof Error ? error.message : error}`);
  }
  const handler = handlerFor(options);
  return handler(event, lambdaContext(options.fn));
}

async function main(): Promise<number> {
  try {
    const result = await invoke(parseInvokeArgs(process.argv.slice(2), process.env));
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    const usage = error instanceof InvokeUsageError;
    process.stderr.write(`${usage ? '' : 'invocation failed: '}${error instanceof Error ? error.message : error}\n`);
    return usage ? 2 : 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  try {
    return script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

// Exits explicitly: a handler may hold connections (NATS, sockets) that keep the loop alive.
if (isEntryPoint()) main().then((code) => process.exit(code));
