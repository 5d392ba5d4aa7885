/**
 * The local stack under test, set up once per file: a fresh table, the configuration and the
 * `Services` on it, the HTTP handlers and authorizer composed from them (local/http-functions.ts)
 * behind the local HTTP server and,
 * when asked, the local event pipeline (optionally with the price update as a bus target).
 * Torn down after the file; the ledger audit runs after every test.
 */
import { afterAll, beforeAll } from 'vitest';
import { applyClearedRounds } from '#functions/price-update';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, type HttpServerOptions, listen } from '#local/http-server';
import { type Pipeline, type PipelineOptions, startPipeline } from '#local/pipeline/index';
import type { ServiceOverrides, Services } from '#shared/adapters/services';
import { initTelemetryFrom } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import {
  auditAfterEach,
  createTestTable,
  deleteTestTable,
  dynamoEndpoint,
  natsUrl,
  type TestTable,
  testConfig,
  testServices,
} from './context.ts';

export type StackPipelineOptions = Partial<
  Omit<PipelineOptions, 'tableName' | 'dynamo' | 'clients' | 'marketState'>
> & {
  /** Registers the `price-update` target, as the `auction_cleared` rule has on AWS. */
  priceUpdate?: boolean;
  /**
   * The bridge writes the market state, with the stack's economy, to the bucket of the stack's
   * NATS_MARKET_BUCKET (pass one of the test's own in `env`).
   */
  marketState?: boolean;
};

export interface StackOptions {
  /** Variables over the test defaults (e.g. `SYNTROPISM_ECONOMY`), for handlers and config alike. */
  env?: Readonly<Record<string, string>>;
  /** Start the event pipeline too. */
  pipeline?: StackPipelineOptions;
  /** Over the services' defaults, e.g. a `runtime` whose clock the test moves. */
  services?: ServiceOverrides;
  logError?: HttpServerOptions['logError'];
}

export interface TestStack {
  readonly url: string;
  readonly table: TestTable;
  readonly config: Config;
  readonly services: Services;
  /** Only with `options.pipeline`. */
  readonly pipeline: Pipeline;
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function startStackPipeline(table: TestTable, services: Services, opts: StackPipelineOptions): Promise<Pipeline> {
  const { priceUpdate, marketState, targets, ...rest } = opts;
  return startPipeline({
    tableName: table.tableName,
    dynamo: { endpoint: dynamoEndpoint(), region: 'us-east-1' },
    clients: { raw: table.raw, doc: table.client },
    natsUrl: natsUrl(),
    logger: quiet,
    idleMs: 20,
    ...(marketState && { marketState: { economy: services.economy, bucket: services.config.NATS_MARKET_BUCKET } }),
    ...rest,
    targets: {
      ...(priceUpdate && {
        'price-update': async (event) => void (await applyClearedRounds(services, event.detail)),
      }),
      ...targets,
    },
  });
}

export function useStack(prefix: string, options: StackOptions = {}): TestStack {
  let state: { -readonly [K in keyof TestStack]?: TestStack[K] } & { server?: ReturnType<typeof createHttpServer> } =
    {};

  beforeAll(async () => {
    const table = await createTestTable(prefix);
    state.table = table;
    state.config = testConfig(table.tableName, options.env);
    state.services = testServices(table, state.config, options.services);
    // As a Lambda container does on its first request (a file that set up its own exporter wins).
    initTelemetryFrom(state.config, 'syntropism');
    const { handlers, authorizer } = httpFunctions(state.services);
    state.server = createHttpServer({ handlers, authorizer, ...(options.logError && { logError: options.logError }) });
    state.url = `http://127.0.0.1:${await listen(state.server, 0)}`;
    if (options.pipeline) state.pipeline = await startStackPipeline(table, state.services, options.pipeline);
  });

  auditAfterEach(() => state.table);

  afterAll(async () => {
    await state.pipeline?.stop();
    if (state.server) await closeHttpServer(state.server);
    if (state.table) await deleteTestTable(state.table);
    state = {};
  });

  const get = <K extends keyof TestStack>(key: K): TestStack[K] => {
    const value = state[key];
    if (value === undefined) throw new Error(`useStack: ${key} exists only inside tests and hooks, after beforeAll`);
    return value as TestStack[K];
  };
  return {
    get url() {
      return get('url');
    },
    get table() {
      return get('table');
    },
    get config() {
      return get('config');
    },
    get services() {
      return get('services');
    },
    get pipeline() {
      return get('pipeline');
    },
  };
}
