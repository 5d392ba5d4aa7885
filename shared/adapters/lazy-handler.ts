/**
 * Lambda entries built on their first invocation rather than at import: importing a function
 * module reads no environment and opens no client, so tests, the local stack and tools can
 * import it freely, and a configuration error surfaces as a failed invocation with its message.
 */

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
