/**
 * API keys. An agent key is `syn.<agent_id>.<secret>` where the secret is 32 random bytes
 * (256 bits, base64url). Only the SHA-256 of the secret is stored; verification recomputes it
 * and compares in constant time. The agent id in the key lets the authorizer fetch the one
 * item to compare against, without an index over hashes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Random } from './ports.ts';

const PREFIX = 'syn';
/** Rater keys (`synr.<rater_id>.<secret>`): the prefix tells the authorizer which item to read. */
const RATER_PREFIX = 'synr';
export const SECRET_BYTES = 32;

function newKey(prefix: string, id: string, random: Random): { apiKey: string; keyHash: string } {
  const secret = random.bytes(SECRET_BYTES).toString('base64url');
  return { apiKey: `${prefix}.${id}.${secret}`, keyHash: hashSecret(secret) };
}

function parseKey(prefix: string, key: string): { id: string; secret: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return undefined;
  const [, id = '', secret = ''] = parts;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || !/^[A-Za-z0-9_-]{40,64}$/.test(secret)) return undefined;
  return { id, secret };
}

export function newApiKey(agentId: string, random: Random): { apiKey: string; keyHash: string } {
  return newKey(PREFIX, agentId, random);
}

export function parseApiKey(apiKey: string): { agentId: string; secret: string } | undefined {
  const parsed = parseKey(PREFIX, apiKey);
  return parsed && { agentId: parsed.id, secret: parsed.secret };
}

export function newRaterKey(raterId: string, random: Random): { apiKey: string; keyHash: string } {
  return newKey(RATER_PREFIX, raterId, random);
}

export function parseRaterKey(key: string): { raterId: string; secret: string } | undefined {
  const parsed = parseKey(RATER_PREFIX, key);
  return parsed && { raterId: parsed.id, secret: parsed.secret };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function verifySecret(secret: string, storedHash: string): boolean {
  const a = createHash('sha256').update(secret).digest();
  const b = Buffer.from(storedHash, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of two keys of any length (the operator key). */
export function sameKey(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Extracts the bearer token of an `Authorization` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
