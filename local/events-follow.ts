/**
 * `syntropism events --follow`: the event stream on NATS, one line per event, for operators
 * who have no `nats` CLI (Debian ships none). An ordered (ephemeral) JetStream consumer: it
 * leaves nothing on the server when it stops. Filters: `--type` on the subject (the server
 * filters), `--agent` and `--scenario` on the envelope (here).
 *
 * Every value is printed through JSON, so control characters an agent put in its events are
 * escaped and cannot drive the terminal.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Envelope, validateEnvelope } from '#shared/core/events';

export interface FollowOptions {
  natsUrl: string;
  stream: string;
  type?: string;
  agent?: string;
  scenario?: string;
  /** From the start of the stream rather than from now. */
  all: boolean;
}

/** One line of an event: time, type, agent, scenario, data (JSON, cut at 300 characters). */
export function eventLine(e: Envelope): string {
  const data = JSON.stringify(e.data);
  const cut = data.length > 300 ? `${data.slice(0, 299)}…` : data;
  const who = e.agent_id ? ` agent=${e.agent_id}` : '';
  const scenario = e.scenario_id ? ` scenario=${JSON.stringify(e.scenario_id)}` : '';
  return `${e.timestamp} ${e.type}${who}${scenario} ${cut}`;
}

export function matches(e: Envelope, opts: Pick<FollowOptions, 'agent' | 'scenario'>): boolean {
  if (opts.agent !== undefined && e.agent_id !== opts.agent) return false;
  return opts.scenario === undefined || e.scenario_id === opts.scenario;
}

/** Follows the stream until `signal` aborts; resolves with the number of lines printed. */
export async function followEvents(
  opts: FollowOptions,
  print: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  const nc: NatsConnection = await connect({ servers: opts.natsUrl, timeout: 3_000 });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(opts.stream);
    // `<root>.>`: the stream's one subject; a type is its last token.
    const root = (info.config.subjects?.[0] ?? 'syntropism.>').replace(/\.>$/, '');
    const consumer = await jetstream(nc).consumers.get(opts.stream, {
      // One subject as a string: `filter_subject`, which servers before 2.10 understand too.
      filter_subjects: opts.type ? `${root}.*.*.${opts.type}` : `${root}.>`,
      deliver_policy: opts.all ? DeliverPolicy.All : DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    signal.addEventListener('abort', () => void messages.close(), { once: true });
    let printed = 0;
    for await (const m of messages) {
      let e: Envelope;
      try {
        e = validateEnvelope(m.json());
      } catch {
        continue; // not an event of the taxonomy: nothing to show
      }
      if (!matches(e, opts)) continue;
      print(eventLine(e));
      printed += 1;
    }
    return printed;
  } finally {
    await nc.close();
  }
}
