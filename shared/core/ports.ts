/**
 * Ports for everything non-deterministic. Production wires the system clock, ULIDs and
 * crypto randomness; tests and the simulator wire seeded versions so a run replays exactly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { monotonicFactory, type PRNG } from 'ulidx';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface IdGenerator {
  /** A new lexicographically sortable unique id (ULID), with an optional prefix. */
  next(prefix?: string): string;
}

export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** `n` random bytes (for secrets such as API keys). */
  bytes(n: number): Buffer;
}

export const systemClock: Clock = { now: () => Date.now() };

export const cryptoRandom: Random = {
  next: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
  bytes: (n) => randomBytes(n),
};

/** Mulberry32: a tiny, fast, seedable PRNG good enough for simulation and jitter. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
}

export function ulidGenerator(clock: Clock, random: Random = cryptoRandom): IdGenerator {
  const prng: PRNG = () => random.next();
  const factory = monotonicFactory(prng);
  return { next: (prefix) => (prefix ? `${prefix}_${factory(clock.now())}` : factory(clock.now())) };
}

/** A stable id derived from its parts (for ids that must be the same on every retry). */
export function derivedId(prefix: string, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('base64url');
  return `${prefix}_${digest.slice(0, 26)}`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A stable id derived from its parts, spelled like a ULID (26 Crockford base32 characters, 128
 * bits): for ids that must be the same on every retry and still pass wherever an id of its kind
 * is checked as `<prefix>_<ULID>` (an agent id in API keys, paths and bodies).
 */
export function derivedUlid(prefix: string, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  // 128 bits as 26 five-bit digits: the first digit holds the top 3 bits (0–7), as in a ULID.
  let value = 0n;
  for (const byte of digest.subarray(0, 16)) value = (value << 8n) | BigInt(byte);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = (CROCKFORD[Number(value & 31n)] ?? '0') + out;
    value >>= 5n;
  }
  return `${prefix}_${out}`;
}

export interface Runtime {
  clock: Clock;
  ids: IdGenerator;
  random: Random;
}

export function systemRuntime(): Runtime {
  return { clock: systemClock, ids: ulidGenerator(systemClock), random: cryptoRandom };
}
