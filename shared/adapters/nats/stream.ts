/**
 * The JetStream stream every event lands in: `SYNTROPISM`, capturing `syntropism.>`, created
 * when missing. Name and subject root are settings so tests can use a stream of their own on a
 * shared server without seeing each other's messages.
 *
 * Duplicate window: JetStream drops a message whose `Nats-Msg-Id` it saw within the window,
 * which is what makes the bridge's retries harmless. It must exceed the time over which the
 * same bus event can be published again: Lambda's asynchronous retries of a failed
 * invocation (two, about 1 and 2 minutes apart) and the local bus's retries (seconds). Two
 * hours covers these with a wide margin while keeping the server's in-memory id index small
 * (it holds every id of the window). Redeliveries beyond it (an archive replay, a DLQ redrive
 * days later) are caught by the consumers, which de-duplicate by `event_id` too.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Envelope } from '../../core/events.ts';

export interface StreamSettings {
  /** Stream name. Default `SYNTROPISM`. */
  name: string;
  /** First subject token; the stream captures `<root>.>`. Default `syntropism`. */
  subjectRoot: string;
  duplicateWindowMs: number;
  /** How long messages are kept; 0 keeps them until the limits below are hit. */
  maxAgeMs: number;
}

/**
 * Longer than any republish of the same event: a failed bridge invocation is retried by Lambda
 * for at most 6 hours (the async invoke's maximum event age in the stack). EventBridge's own
 * 24-hour delivery retries never ran the bridge, so they publish nothing twice.
 */
export const DUPLICATE_WINDOW_MS = 7 * 60 * 60 * 1000;

export const DEFAULT_STREAM: StreamSettings = {
  name: 'SYNTROPISM',
  subjectRoot: 'syntropism',
  duplicateWindowMs: DUPLICATE_WINDOW_MS,
  // A month, like the bus archive: long enough for any consumer to catch up or be rebuilt.
  maxAgeMs: 30 * 24 * 60 * 60 * 1000,
};

export const streamSubjects = (s: Pick<StreamSettings, 'subjectRoot'>): string[] => [`${s.subjectRoot}.>`];

/** `<root>.<source>.<component>.<type>`; with the default root this is `subjectOf(e)`. */
export function subjectFor(e: Pick<Envelope, 'source' | 'component' | 'type'>, subjectRoot: string): string {
  return `${subjectRoot}.${e.source}.${e.component}.${e.type}`;
}

/**
 * Creates the stream if missing. An existing stream keeps its configuration except that a
 * duplicate window shorter than ours is widened: a narrower one would let retries through.
 */
export async function ensureStream(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  const wanted = {
    name: settings.name,
    subjects: streamSubjects(settings),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(settings.duplicateWindowMs),
    max_age: nanos(settings.maxAgeMs),
  };
  try {
    const info = await jsm.streams.info(settings.name);
    if (info.config.duplicate_window < wanted.duplicate_window) {
      await jsm.streams.update(settings.name, { duplicate_window: wanted.duplicate_window });
    }
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) throw error;
    try {
      await jsm.streams.add(wanted);
    } catch (addError) {
      // Another container created it in between: fine, it is the same stream.
      if (!(addError instanceof JetStreamApiError) || !/already in use|already exists/i.test(addError.message)) {
        throw addError;
      }
    }
  }
}
