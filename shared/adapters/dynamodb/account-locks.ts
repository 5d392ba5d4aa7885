/**
 * Per-account serialization inside one process. Writers of the same account in one process
 * (the local stack, a warm Lambda container serving many requests) would otherwise race each
 * other's optimistic conditions and transaction locks, and a hot payer would see its requests
 * replan until they give up. Queued here, they run one after another at the table's latency
 * and the conditions only ever meet writers from other processes.
 *
 * Keys are taken in sorted order, so two operations on overlapping sets of accounts can never
 * wait on each other in a cycle.
 */
export class AccountLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` holding every given key; keys held by others are waited for, first come first served. */
  async with<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    if (keys.length === 0) return fn();
    const releases: (() => void)[] = [];
    try {
      for (const key of [...new Set(keys)].sort()) releases.push(await this.acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** Number of keys held or waited for (zero when idle: nothing leaks). */
  get size(): number {
    return this.tails.size;
  }

  private async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => held);
    this.tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
