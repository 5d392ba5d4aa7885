/**
 * What the local stack hands its background services, and how they are started: the types the
 * CLI (`cli.ts`) and the services themselves (`market-services.ts`) share, in a module of their
 * own so that neither imports the other.
 */
import type { Config } from '#shared/config';
import type { PopulationOptions } from './population/index.ts';

export interface StartOptions {
  port: number;
  host: string;
  inMemory: boolean;
  /** Where DynamoDB Local keeps its file unless `inMemory`. */
  dataDir: string;
  roundMs: number;
  verbose: boolean;
  /** The simulated population and human (`--agents`, `--seed`, `--no-agents`, `--no-human`). */
  population?: PopulationOptions;
}

/** What the background services get to work with. */
export interface StackContext {
  options: StartOptions;
  /** The configuration the stack's handlers run with (table, endpoint, NATS, economy). */
  config: Config;
  dynamoEndpoint: string;
  tableName: string;
  natsUrl: string;
  operatorKey: string;
  /** The local API's base URL, e.g. for the simulated agents. */
  apiUrl: string;
  log(line: string): void;
}

export interface RunningService {
  stop(): Promise<void>;
}

export interface BackgroundService {
  name: string;
  start(): Promise<RunningService>;
}

/** Starts `services` in order; if one fails, stops those already started and rethrows. */
export async function startBackgroundServices(
  services: BackgroundService[],
): Promise<Array<RunningService & { name: string }>> {
  const running: Array<RunningService & { name: string }> = [];
  for (const service of services) {
    try {
      const handle = await service.start();
      running.push({ name: service.name, stop: () => handle.stop() });
    } catch (error) {
      for (const started of running.reverse()) await started.stop().catch(() => {});
      throw new Error(`${service.name} failed to start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return running;
}
