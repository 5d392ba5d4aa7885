/**
 * Opaque pagination cursors, bound to the caller and the query that made them.
 *
 * A cursor is base64url JSON `{s, k}`: `k` is where the next page starts (a DynamoDB key, or an
 * event id) and `s` a short hash of its scope: who asked, which listing, and every filter that
 * shapes the query. Decoding checks the scope, the exact attribute set, non-empty string values
 * within DynamoDB's key sizes, and that the partition attributes are those of the partition the
 * query reads. So another caller's cursor, a cursor of another listing or filter, a forged or a
 * truncated one are all a 400 `validation_failed` at `/cursor`, never a DynamoDB error (a 500),
 * and a cursor can never move a query to another partition.
 *
 * The hash is not a secret (anyone may compute it): it makes cursors non-transferable, while the
 * partition check is what keeps a crafted cursor inside what its caller may read anyway.
 */
import { createHash } from 'node:crypto';
import { validationFailed } from '../../core/errors.ts';
import { keys } from '../../table.ts';

export interface CursorScope {
  /** Who asked (`callerOf`): a cursor answers only the caller it was given to. */
  caller: string;
  /** The listing it pages, one per route (`bids`, `history`, …). */
  listing: string;
  /** Everything else that shapes the query; `undefined` is "not given". */
  filters?: Readonly<Record<string, string | number | undefined>>;
}

export interface CursorShape<A extends string = string> {
  /** The exact attribute set of the position (the key a page of this query stops at). */
  attributes: readonly A[];
  /** Attributes the query fixes (its partition): the cursor must carry exactly these values. */
  partition: Readonly<Partial<Record<A, string>>>;
  /** Further structure the position must have, e.g. the prefix of a `begins_with` range. */
  valid?: (position: Readonly<Record<A, string>>) => boolean;
}

export type Position<A extends string = string> = Record<A, string>;

/** The caller a cursor is bound to: the agent id, or the role (`operator`). */
export const callerOf = (caller: { role: string; agent_id?: string; rater_id?: string }): string =>
  caller.agent_id ?? (caller.rater_id !== undefined ? `rater:${caller.rater_id}` : caller.role);

/** Longer than any cursor this module makes (the API caps cursors at 2048 characters anyway). */
const MAX_CURSOR_CHARS = 4096;
/** DynamoDB's limit on a sort key value; the tighter of its two key limits. */
const MAX_KEY_BYTES = 1024;

/** 96 bits of SHA-256 over the scope, in a canonical (sorted, absent-free) form. */
export function scopeHash(scope: CursorScope): string {
  const filters = Object.entries(scope.filters ?? {})
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([scope.caller, scope.listing, filters]))
    .digest('base64url')
    .slice(0, 16);
}

export function encodeCursor(position: Record<string, unknown> | undefined, scope: CursorScope): string | null {
  if (!position) return null;
  return Buffer.from(JSON.stringify({ s: scopeHash(scope), k: position })).toString('base64url');
}

const malformed = () => validationFailed([{ path: '/cursor', message: 'cursor is malformed' }]);
const foreign = () =>
  validationFailed([{ path: '/cursor', message: 'cursor belongs to another caller, listing or filter' }]);

function parse(cursor: string): { s: unknown; k: unknown } {
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS) throw malformed();
  const bytes = Buffer.from(cursor, 'base64url');
  // Node skips characters outside the alphabet: only the canonical spelling is this cursor.
  if (bytes.toString('base64url') !== cursor) throw malformed();
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!isRecord(parsed) || !sameKeys(parsed, ['k', 's'])) throw malformed();
  return { s: parsed.s, k: parsed.k };
}

/** The position a cursor carries, after every check; throws the 400 otherwise. */
export function decodeCursor<A extends string>(cursor: string, scope: CursorScope, shape: CursorShape<A>): Position<A> {
  const { s, k } = parse(cursor);
  if (typeof s !== 'string') throw malformed();
  if (s !== scopeHash(scope)) throw foreign();
  if (!isRecord(k) || !sameKeys(k, shape.attributes)) throw malformed();
  for (const name of shape.attributes) {
    const v = k[name];
    if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'utf8') > MAX_KEY_BYTES) throw malformed();
  }
  const position = k as Position<A>;
  for (const name of shape.attributes) {
    const fixed = shape.partition[name];
    if (fixed !== undefined && position[name] !== fixed) throw foreign();
  }
  if (shape.valid && !shape.valid(position)) throw malformed();
  return position;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameKeys(o: Record<string, unknown>, names: readonly string[]): boolean {
  const own = Object.keys(o);
  return own.length === names.length && names.every((n) => Object.hasOwn(o, n));
}

/**
 * The listings of the API: each one's scope and the shape of the key its pages stop at. For
 * an index query the base-table key must be the one the index key derives from, so even a
 * crafted cursor names a real position of the partition.
 */
export const listings = {
  /** `GET /v1/agents/{id}/history`: an account's entries (base table, `begins_with` range). */
  history(caller: string, accountId: string) {
    return listing(
      { caller, listing: 'history', filters: { account: accountId } },
      {
        attributes: ['PK', 'SK'],
        partition: { PK: keys.account(accountId).PK },
        valid: (p) => p.SK.startsWith(keys.entryPrefix),
      },
    );
  },
  /** `GET /v1/bids`: an agent's bids (GSI1), filtered by status and round. */
  bidsOfAgent(caller: string, agentId: string, filters: { status?: string; round?: string }) {
    const partition = keys.agentBidsIndex(agentId, '').GSI1PK;
    return listing(
      { caller, listing: 'bids', filters: { agent: agentId, ...filters } },
      {
        attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK'],
        partition: { GSI1PK: partition },
        valid: (p) => sameKey(p, keys.bid(p.GSI1SK)),
      },
    );
  },
  /**
   * `GET /v1/allocations`: an agent's (GSI1, by start) or, for the operator, every allocation
   * not yet ended (GSI2, by end).
   */
  allocations(caller: string, agentId: string | undefined, status: string | undefined) {
    const scope = { caller, listing: 'allocations', filters: { agent: agentId, status } };
    const own = (p: Position<'PK' | 'SK'>, sk: string) =>
      sameKey(p, keys.allocation(sk.slice(sk.indexOf('#') + 1))) && sk.indexOf('#') === 15;
    if (agentId !== undefined) {
      return listing(scope, {
        attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK'],
        partition: { GSI1PK: keys.agentAllocationsPartition(agentId) },
        valid: (p) => own(p, p.GSI1SK),
      });
    }
    return listing(scope, {
      attributes: ['PK', 'SK', 'GSI2PK', 'GSI2SK'],
      partition: { GSI2PK: keys.unexpiredAllocationsPartition },
      valid: (p) => own(p, p.GSI2SK),
    });
  },
  /** `GET /v1/agents`: every agent (GSI1 `AGENTS`). */
  agents(caller: string) {
    return listing(
      { caller, listing: 'agents' },
      {
        attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK'],
        partition: { GSI1PK: keys.agentsIndex('').GSI1PK },
        valid: (p) => sameKey(p, keys.agent(p.GSI1SK)),
      },
    );
  },
  /** `GET /v1/raters`: every rater (GSI1 `RATERS`). */
  raters(caller: string) {
    return listing(
      { caller, listing: 'raters' },
      {
        attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK'],
        partition: { GSI1PK: keys.ratersPartition },
        valid: (p) => sameKey(p, keys.rater(p.GSI1SK)),
      },
    );
  },
  /** `GET /v1/prompts`: prompts of one status (GSI2 `PROMPTS#<status>`), in the queue's order. */
  prompts(caller: string, status: string) {
    return listing(
      { caller, listing: 'prompts', filters: { status } },
      {
        attributes: ['PK', 'SK', 'GSI2PK', 'GSI2SK'],
        partition: { GSI2PK: keys.promptsPartition(status) },
        // Every prompt sort key ends with `#<prompt_id>` of the item it indexes.
        valid: (p) => p.PK.startsWith('PROMPT#') && p.GSI2SK.endsWith(`#${p.PK.slice('PROMPT#'.length)}`),
      },
    );
  },
  /** `GET /v1/agents/{id}/children`: an agent's children (GSI2, by creation time). */
  children(caller: string, parentId: string) {
    return listing(
      { caller, listing: 'children', filters: { parent: parentId } },
      {
        attributes: ['PK', 'SK', 'GSI2PK', 'GSI2SK'],
        partition: { GSI2PK: keys.childrenPartition(parentId) },
        // The index key is `<created ms>#<child id>` of the item `AGENT#<child id>` / `AGENT`.
        valid: (p) => p.GSI2SK.indexOf('#') === 15 && sameKey(p, keys.agent(p.GSI2SK.slice(16))),
      },
    );
  },
  /** `GET /v1/dead-letters`: of one target (base table), or of all (GSI1, newest first). */
  deadLetters(caller: string, target: string | undefined) {
    const scope = { caller, listing: 'dead-letters', filters: { target } };
    if (target !== undefined) {
      return listing(scope, { attributes: ['PK', 'SK'], partition: { PK: keys.deadLetter(target, '').PK } });
    }
    return listing(scope, {
      attributes: ['PK', 'SK', 'GSI1PK', 'GSI1SK'],
      partition: { GSI1PK: keys.deadLettersIndex('').GSI1PK },
      // The index key is `<created_at>#<target>#<outbox_id>` of the item `DLQ#<target>` / `<outbox_id>`.
      valid: (p) => p.PK.startsWith('DLQ#') && p.GSI1SK.endsWith(`#${p.PK.slice('DLQ#'.length)}#${p.SK}`),
    });
  },
};

/** A scope and a shape together: what a listing's adapter encodes and decodes with. */
export interface Listing<A extends string = string> {
  encode(position: Record<string, unknown> | undefined): string | null;
  /** `undefined` in, `undefined` out: the first page. */
  decode(cursor: string | undefined): Position<A> | undefined;
}

export function listing<A extends string>(scope: CursorScope, shape: CursorShape<A>): Listing<A> {
  return {
    encode: (position) => encodeCursor(position, scope),
    decode: (cursor) => (cursor === undefined ? undefined : decodeCursor(cursor, scope, shape)),
  };
}

function sameKey(p: Position<'PK' | 'SK'>, key: { PK: string; SK: string }): boolean {
  return p.PK === key.PK && p.SK === key.SK;
}
