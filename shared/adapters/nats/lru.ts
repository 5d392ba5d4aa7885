/**
 * A bounded set of recently seen keys (least recently used evicted first), for consumers that
 * de-duplicate by `event_id`. Bounded so a long-running consumer's memory stays flat; the
 * bound must exceed the number of messages that can be redelivered at once (JetStream's
 * `max_ack_pending`) plus the duplicates a retry can produce.
 */
export class LruSet {
  private readonly keys = new Map<string, true>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('LruSet capacity must be a positive integer');
  }

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    if (!this.keys.has(key)) return false;
    // Refresh: a key seen again is recent again. Map keeps insertion order.
    this.keys.delete(key);
    this.keys.set(key, true);
    return true;
  }

  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, true);
    while (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next();
      if (oldest.done) break;
      this.keys.delete(oldest.value);
    }
  }
}
