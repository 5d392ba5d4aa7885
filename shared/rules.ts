/**
 * Event bus rules, defined once: the CDK stack turns them into EventBridge rules and the
 * local bus applies the very same patterns in process.
 *
 * One bus event carries one outbox item: the ordered events of one transaction
 * (`detail.events`), so that they reach NATS in the order they were written. `detail-type` and
 * `source` are those of the transaction's first event. Patterns on `detail.events.type` match
 * when any event of the transaction has that type (EventBridge matches arrays element-wise).
 */

export const BUS_NAME = 'syntropism';
export const EVENT_SOURCE_PREFIX = 'syntropism.';

/** Names of rule targets; each is a function (or, for `archive`, the bus archive). */
export type RuleTarget = 'nats-bridge' | 'price-update' | 'event-log';

export interface RuleDefinition {
  name: string;
  description: string;
  /** An EventBridge event pattern (the subset the local matcher understands). */
  pattern: Record<string, unknown>;
  target: RuleTarget;
}

/** Everything the system emits. */
export const ALL_EVENTS_PATTERN = { source: [{ prefix: EVENT_SOURCE_PREFIX }] } as const;

export const RULES: readonly RuleDefinition[] = [
  {
    name: 'all-to-nats',
    description: 'Every event is published to NATS JetStream by the bridge.',
    pattern: ALL_EVENTS_PATTERN,
    target: 'nats-bridge',
  },
  {
    name: 'auction-cleared-to-price-update',
    description: 'A cleared round triggers the price update.',
    pattern: { ...ALL_EVENTS_PATTERN, detail: { events: { type: ['auction_cleared'] } } },
    target: 'price-update',
  },
  {
    name: 'all-to-event-log',
    description: 'Every event is appended to the queryable event log behind GET /v1/events.',
    pattern: ALL_EVENTS_PATTERN,
    target: 'event-log',
  },
];

/** The archive keeps every event for replay. */
export const ARCHIVE = { name: 'syntropism-all', pattern: ALL_EVENTS_PATTERN, retentionDays: 30 } as const;
