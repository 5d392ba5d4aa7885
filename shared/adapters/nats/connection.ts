/**
 * One NATS connection per container, made on first use and replaced when it is gone.
 *
 * A Lambda container is frozen between invocations; its TCP connection may be dead when it
 * thaws without the client knowing (NATS pings only every few minutes). So after an idle spell
 * the connection is checked with a round trip (flush) under a short timeout, and replaced if it
 * does not answer. The client's own reconnect loop is off: a publish must fail fast (and the
 * invocation be retried) rather than wait in a reconnect buffer, and a closed connection is
 * simply replaced on the next use.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Clock, systemClock } from '../../core/ports.ts';
import { errorMessage, NatsUnavailableError } from './errors.ts';

/** Where and how to connect (NATS_URL, or the secret behind NATS_SECRET_ARN). */
export interface NatsSettings {
  url: string;
  user?: string;
  pass?: string;
  token?: string;
}

export interface NatsConnectorOptions {
  /** Resolves the settings; called again after a failed connect (a rotated secret). */
  settings: () => Promise<NatsSettings>;
  /** Connection name shown by the server (`nats-bridge`, `stream-poller`…). */
  name?: string;
  /** Connect timeout. Default 2 s: far below the function's timeout, so a retry can follow. */
  connectTimeoutMs?: number;
  /** After this long unused, check the connection before trusting it. Default 10 s. */
  idleCheckMs?: number;
  /** Timeout of that check. Default 1 s. */
  checkTimeoutMs?: number;
  clock?: Clock;
}

export class NatsConnector {
  private current: NatsConnection | undefined;
  private pending: Promise<NatsConnection> | undefined;
  private lastUsed = 0;
  private readonly clock: Clock;

  constructor(private readonly opts: NatsConnectorOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** A live connection; throws NatsUnavailableError when none can be made. */
  async get(): Promise<NatsConnection> {
    const nc = this.current;
    if (nc && !nc.isClosed()) {
      const idle = this.clock.now() - this.lastUsed;
      if (idle <= (this.opts.idleCheckMs ?? 10_000) || (await this.answers(nc))) {
        this.lastUsed = this.clock.now();
        return nc;
      }
      await this.invalidate();
    }
    this.pending ??= this.open().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Drops the connection (after a failed publish), so the next `get()` makes a new one. */
  async invalidate(): Promise<void> {
    const nc = this.current;
    this.current = undefined;
    if (nc && !nc.isClosed()) await nc.close().catch(() => {});
  }

  async close(): Promise<void> {
    await this.pending?.catch(() => undefined);
    await this.invalidate();
  }

  private async open(): Promise<NatsConnection> {
    const settings = await this.opts.settings();
    try {
      const nc = await connect({
        servers: settings.url,
        ...(settings.user !== undefined && { user: settings.user }),
        ...(settings.pass !== undefined && { pass: settings.pass }),
        ...(settings.token !== undefined && { token: settings.token }),
        name: this.opts.name ?? 'syntropism',
        timeout: this.opts.connectTimeoutMs ?? 2_000,
        reconnect: false,
        // Notice a dead server within seconds while the container runs.
        pingInterval: 5_000,
        maxPingOut: 2,
      });
      this.current = nc;
      this.lastUsed = this.clock.now();
      return nc;
    } catch (error) {
      throw new NatsUnavailableError(`cannot connect to NATS at ${redact(settings.url)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  private async answers(nc: NatsConnection): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.opts.checkTimeoutMs ?? 1_000);
      });
      return await Promise.race([nc.flush().then(() => true), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A URL without its credentials, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
