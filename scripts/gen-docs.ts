/**
 * Writes the generated documents from the code that defines them:
 *   docs/events.schema.json  JSON Schema of every event (shared/core/events.ts)
 *   docs/events.md           the taxonomy table, between its markers; the prose around it is
 *                            kept (and written from the template below if the file is missing)
 *   docs/openapi.json        the OpenAPI document (shared/http/openapi.ts)
 *
 * Usage: npm run docs (npx tsx scripts/gen-docs.ts) [-- --check]
 * With --check nothing is written; the exit code is 1 when a document is out of date.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  eventsJsonSchema,
  eventsMarkdownTable,
  GENERATED_END,
  GENERATED_START,
  markdownTable,
  withGeneratedSection,
} from '../shared/core/events-doc.ts';
import { openApiDocument } from '../shared/http/openapi.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const path = (relative: string) => `${root}${relative}`;

const ENVELOPE_FIELDS = markdownTable(
  ['Field', 'Meaning'],
  [
    [
      '`event_id`',
      'Unique and sortable (a ULID with the prefix `ev_`). Consumers de-duplicate on it; it is also the NATS `Nats-Msg-Id`.',
    ],
    ['`type`', 'One of the types in the table below. Fixes `source`, `component` and the schema of `data`.'],
    [
      '`source`',
      'Who emits it: `system` (the platform), `agent` (published by an agent through `POST /v1/events`; the API forces this value and `agent_id` from the caller), `judge` (the benchmark runner).',
    ],
    [
      '`component`',
      'The part of the system it is about: `economy`, `market`, `scheduler`, `attention`, `agents`, `benchmark`.',
    ],
    ['`timestamp`', 'When the change was made (ISO 8601, UTC, milliseconds).'],
    ['`agent_id`', 'The agent the event concerns, when there is one.'],
    [
      '`scenario_id`',
      "The `X-Scenario-Id` of the request that caused the event, when it had one: every event a request causes carries it, so one benchmark scenario's events can be isolated.",
    ],
    ['`correlation_id`', 'The request id of the causing HTTP request, or the round id for clearing.'],
    ['`causation_id`', 'The `event_id` of the event that caused this one, if any.'],
    ['`aggregate`, `sequence`', 'The aggregate the event belongs to and its position in it (see below).'],
    [
      '`trace`',
      'W3C trace context (`traceparent`, `tracestate`) of the span that emitted the event; the NATS bridge continues it in message headers, so one trace links a request to everything it caused.',
    ],
    [
      '`data`',
      'The payload of the type, validated against its schema. Credit amounts are numbers of credits with at most 6 decimals.',
    ],
  ],
);

const AGGREGATES = markdownTable(
  ['Aggregate', 'Events'],
  [
    [
      '`agent:<id>`',
      'one agent: its registration and grant, the transfers it makes, balance reads, going dormant and waking',
    ],
    [
      '`bid:<id>`',
      'one bid: placement and its escrow movement, cancellation and refund, the clearing outcome (burn or refund, allocation)',
    ],
    ['`round:<id>`', 'one auction round: its clearing (`auction_cleared`)'],
    ['`market:<resource>`', 'the price of one resource, `cpu`, `memory`, `tokens` or `attention` (`price_update`)'],
  ],
);

/** The prose of docs/events.md, used when the file does not exist yet; afterwards it is edited by hand. */
const EVENTS_MD_TEMPLATE = `# Events

Every state change in Syntropism is an event. Events are validated against their schema
(\`shared/core/events.ts\`, zod) before they are written, carried to NATS JetStream, and consumed by
the benchmark runner and the dashboard. The machine-readable form of this page is
[\`events.schema.json\`](events.schema.json) (JSON Schema 2020-12); the taxonomy table below and
that file are generated from the same schemas by \`npx tsx scripts/gen-docs.ts\`, and a test
fails when either is out of date.

## Envelope

Every event has the same envelope; only \`data\` depends on the type.

\`\`\`json
{
  "event_id": "ev_01JDZ3Q8X6T1M9K2R4W7Y5B0CE",
  "type": "bid_placed",
  "source": "system",
  "component": "market",
  "timestamp": "2026-11-26T12:00:00.123Z",
  "agent_id": "a_01JDZ3P1V0F3K8N6Q2S5T7W9XA",
  "scenario_id": "er_001",
  "correlation_id": "Kq3v0gkRIAMEVxw=",
  "aggregate": "bid:b_01JDZ3Q8X6T1M9K2R4W7Y5B0CD",
  "sequence": 1,
  "trace": { "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "" },
  "data": { "bid_id": "b_01JDZ3Q8X6T1M9K2R4W7Y5B0CD", "…": "…" }
}
\`\`\`

${ENVELOPE_FIELDS}

## Ordering: aggregates and \`sequence\`

Events of different items can reach the bus in any order (DynamoDB Streams order records per
item only), so order is made explicit. Every event that belongs to an aggregate carries the
aggregate's name in \`aggregate\` and its \`sequence\` in it: 1 for the first event of the
aggregate, then increasing by one per event, assigned in the same transaction as the change.
A consumer orders events of one aggregate by \`sequence\` and detects a missing one as a gap.
Sequences of different aggregates are not comparable; an event belongs to at most one aggregate.

${AGGREGATES}

Causally later steps are ordered by causality: clearing follows placement, and the price
update is triggered by the delivered \`auction_cleared\`, so it is published after it.

## The outbox

An event is never sent by a handler after it commits (a crash in between would lose or invent
it). Instead, the events of one operation are written as **one outbox item** in the same
DynamoDB transaction as the change they describe: one item per transaction, holding the
ordered list of its envelopes. A read-only event such as \`balance_queried\` is a single put of
such an item. The table's stream relays each item as one bus event, and the events of the item
are published in list order, so the events of one transaction reach NATS in the order they
were written.

## NATS subjects

Each event is published on JetStream subject \`syntropism.<source>.<component>.<type>\`, for
example \`syntropism.system.market.bid_placed\` or \`syntropism.agent.agents.reflection\`
(stream \`SYNTROPISM\` captures \`syntropism.>\`). Subscribe with wildcards to pick a slice:
\`syntropism.system.market.>\` for the market, \`syntropism.agent.>\` for everything agents
publish, \`syntropism.*.*.credits_transferred\` for ledger movements. The subject of each type
is also recorded as \`x-subject\` in [\`events.schema.json\`](events.schema.json).

Delivery from the outbox to NATS (stream, bus, rules, bridge, retries and de-duplication) is
described in [pipeline.md](pipeline.md).

## Taxonomy

Fields marked optional may be absent; all others are always present. Unknown fields are
rejected, in \`data\` as in the envelope.

${GENERATED_START}
${GENERATED_END}
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path('package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Each document is built on its own: one that cannot be built does not block the others. */
const DOCUMENTS: Record<string, () => string> = {
  'docs/events.schema.json': () => json(eventsJsonSchema()),
  'docs/events.md': () => {
    const current = existsSync(path('docs/events.md'))
      ? readFileSync(path('docs/events.md'), 'utf8')
      : EVENTS_MD_TEMPLATE;
    return withGeneratedSection(current, eventsMarkdownTable());
  },
  'docs/openapi.json': () => json(openApiDocument(packageVersion())),
};

const check = process.argv.includes('--check');
let failed = 0;
mkdirSync(path('docs'), { recursive: true });
for (const [file, build] of Object.entries(DOCUMENTS)) {
  let content: string;
  try {
    content = build();
  } catch (err) {
    failed++;
    console.error(`${file}: cannot be generated: ${err instanceof Error ? err.message : String(err)}`);
    continue;
  }
  const current = existsSync(path(file)) ? readFileSync(path(file), 'utf8') : undefined;
  if (current === content) {
    console.log(`${file}: up to date`);
  } else if (check) {
    failed++;
    console.error(`${file}: out of date`);
  } else {
    writeFileSync(path(file), content);
    console.log(`${file}: written`);
  }
}
if (failed > 0) {
  if (check) console.error('Run `npx tsx scripts/gen-docs.ts` and commit the result.');
  process.exitCode = 1;
}
