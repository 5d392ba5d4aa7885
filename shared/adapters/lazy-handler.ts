/**
 * Lambda entries built on their first invocation rather than at import: importing a function
 * module reads no environment and opens no client, so tests, the local stack and tools can
 * import it freely, and a configuration error surfaces as a failed invocation with its message.
 */
import { type Config, loadConfig } from '../config.ts';
import { initTelemetryFrom } from './telemetry/tracing.ts';

/**
 * An async handler that calls `build()` on its first invocation and delegates to what it returns
 * from then on. A build that throws rejects that invocation and is tried again on the next one,
 * not cached as a failure.
 */
export function lazyHandler<A extends unknown[], R>(
  build: () => (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  let built: ((...args: A) => Promise<R>) | undefined;
  return async (...args: A) => {
    built ??= build();
    return built(...args);
  };
}

/**
 * The Lambda entry of a function: on its first invocation, the configuration is read from the
 * environment, telemetry started, and the handler built by `build` from that configuration.
 */
export function lambdaEntry<A extends unknown[], R>(
  build: (config: Config) => (...args: A) => Promise<R>,
  serviceName = 'syntropism',
) {
  return lazyHandler(() => {
    const config = loadConfig(process.env);
    initTelemetryFrom(config, serviceName);
    return build(config);
  });
}
