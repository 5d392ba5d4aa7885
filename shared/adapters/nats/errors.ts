/**
 * The two ways publishing to NATS fails, which callers must tell apart:
 * - NATS is unreachable (or does not ack in time): transient; the invocation fails so that it
 *   is retried, and nothing is dead-lettered while retries may still succeed;
 * - an envelope fails its schema (a poison event): permanent; retrying cannot fix it, so it is
 *   sent to a dead letter and must never block the events behind it.
 */

export class NatsUnavailableError extends Error {
  override readonly name = 'NatsUnavailableError';
  /** Marks the failure as worth retrying later (read by the local bus). */
  readonly transient = true;
}

/** One envelope that failed validation, with its position in the transaction. */
export interface PoisonEvent {
  index: number;
  /** When the envelope has one. */
  event_id?: string;
  error: string;
  event: unknown;
}

/**
 * Thrown after every valid envelope of a bus event was published, when some were poison.
 * On AWS the failed invocation is retried (republishing is harmless: Nats-Msg-Id) and then
 * lands in the rule target's dead-letter queue with the whole bus event.
 */
export class PoisonEventError extends Error {
  override readonly name = 'PoisonEventError';
  /** Retrying cannot help (read by the local bus, which dead-letters at once). */
  readonly permanent = true;
  constructor(
    readonly outboxId: string,
    readonly poison: PoisonEvent[],
  ) {
    super(
      `${poison.length} poison event(s) in outbox item ${outboxId}: ${poison
        .map((p) => `#${p.index} ${p.event_id ?? '?'}: ${p.error}`)
        .join('; ')
        .slice(0, 2_000)}`,
    );
  }
}

export const isTransient = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { transient?: unknown }).transient === true;

export const isPermanent = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true;

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));
