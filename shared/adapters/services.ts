/**
 * Composition of the adapters a function needs, created once per container. Functions call
 * `services()` at module scope; tests and the local stack build their own with `createServices`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { type Config, loadConfig } from '../config.ts';
import { type EconomyConfig, loadEconomyConfig } from '../core/market-config.ts';
import { type Runtime, systemRuntime } from '../core/ports.ts';
import { TokenBuckets } from '../core/token-bucket.ts';
import { Agents } from './dynamodb/agents.ts';
import { Bids } from './dynamodb/bids.ts';
import { Clearing, type ClearingFaults } from './dynamodb/clearing.ts';
import { makeDocumentClient, type TableRef } from './dynamodb/client.ts';
import { DynamoIdempotencyStore } from './dynamodb/idempotency.ts';
import { Ledger } from './dynamodb/ledger.ts';
import { LedgerWriter, moneyLimitsOf } from './dynamodb/ledger-writer.ts';
import { Market } from './dynamodb/market.ts';
import { type TransactWriter, TxRunner } from './dynamodb/transaction.ts';
import { initTelemetry } from './telemetry/tracing.ts';

export interface Services {
  config: Config;
  runtime: Runtime;
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  agents: Agents;
  economy: EconomyConfig;
  bids: Bids;
  market: Market;
  clearing: Clearing;
  idempotency: DynamoIdempotencyStore;
  throttle: TokenBuckets;
  logger: Logger;
}

export interface ServiceOverrides {
  runtime?: Runtime;
  table?: TableRef;
  writer?: TransactWriter;
  sleep?: (ms: number) => Promise<void>;
  economy?: EconomyConfig;
  clearingFaults?: ClearingFaults;
  maxBidsPerTransaction?: number;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const runtime = overrides.runtime ?? systemRuntime();
  const table = overrides.table ?? { doc: makeDocumentClient(config), tableName: config.TABLE_NAME };
  const tx = new TxRunner(table, {
    maxAttempts: config.TX_MAX_ATTEMPTS,
    random: runtime.random,
    ...(overrides.writer && { writer: overrides.writer }),
    ...(overrides.sleep && { sleep: overrides.sleep }),
  });
  const economy = overrides.economy ?? loadEconomyConfig();
  const writer = new LedgerWriter(table.tableName, moneyLimitsOf(economy));
  const ledger = new Ledger({ table, tx, writer, runtime, shards: config.LEDGER_SHARDS });
  const bids = new Bids({ table, tx, ledger, writer, runtime, economy, roundShards: config.ROUND_BID_SHARDS });
  const market = new Market({ table, tx, runtime, economy });
  const agents = new Agents({ table, tx, ledger, writer, runtime });
  const clearing = new Clearing({
    table,
    tx,
    ledger,
    writer,
    bids,
    runtime,
    economy,
    prices: () => market.prices(),
    agents,
    ...(overrides.clearingFaults && { faults: overrides.clearingFaults }),
    ...(overrides.maxBidsPerTransaction && { maxBidsPerTransaction: overrides.maxBidsPerTransaction }),
  });
  return {
    economy,
    bids,
    market,
    clearing,
    config,
    runtime,
    table,
    tx,
    ledger,
    writer,
    agents,
    idempotency: new DynamoIdempotencyStore(table, runtime.clock),
    throttle: new TokenBuckets(
      { ratePerSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
      runtime.clock,
    ),
    logger: new Logger({ serviceName: 'syntropism', logLevel: config.LOG_LEVEL }),
  };
}

let cached: Services | undefined;

/** The container's services, built from the environment on first use. */
export function services(): Services {
  if (!cached) {
    const config = loadConfig();
    initTelemetry({
      serviceName: 'syntropism',
      serviceVersion: config.SERVICE_VERSION,
      ...(config.OTEL_EXPORTER_OTLP_ENDPOINT && { otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }),
    });
    cached = createServices(config);
  }
  return cached;
}
