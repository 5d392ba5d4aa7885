/**
 * Input: `X-Scenario-Id`, the query and the body, checked before the handler runs. The body
 * must be JSON (content type), within the size limit, nested no deeper than the depth limit
 * (scanned on the text, before any recursion can hurt), parse, hold only numbers a double
 * represents exactly, and fit the route's schema. Every refusal is a 4xx that changes nothing.
 */
import type { MiddlewareObj } from '@middy/core';
import { z } from 'zod';
import { DomainError, validationFailed } from '../../core/errors.ts';
import type { HttpEvent, HttpResult } from '../contract.ts';
import { tooDeep } from '../json-depth.ts';
import { inexactNumber } from '../json-numbers.ts';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '../limits.ts';
import { stateOf } from './state.ts';

export interface InputOptions {
  /** @default MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /** @default MAX_JSON_DEPTH */
  maxDepth?: number;
}

const SCENARIO_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;
const NO_QUERY = z.object({}).strict();

export function rawBody(event: HttpEvent): string | undefined {
  if (event.body === undefined || event.body === null) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

function zodErrors(error: z.ZodError, prefix: string) {
  return error.issues.map((i) => ({
    path: `${prefix}${i.path.length ? `/${i.path.map(String).join('/')}` : ''}`,
    message: i.message,
  }));
}

function checkScenario(event: HttpEvent): void {
  const scenario = event.headers['x-scenario-id'];
  if (scenario === undefined) return;
  // Joined repeated lines carry a comma, which the pattern refuses: one scenario per request.
  if (!SCENARIO_ID.test(scenario)) {
    throw validationFailed([{ path: '/headers/x-scenario-id', message: 'once, matching [A-Za-z0-9._:-]{1,128}' }]);
  }
}

/** The JSON text of the body, parsed, after every check that needs only the text. */
function parseBody(event: HttpEvent, limits: Required<InputOptions>): unknown {
  const text = rawBody(event);
  if (text !== undefined && Buffer.byteLength(text, 'utf8') > limits.maxBodyBytes) {
    throw new DomainError('payload_too_large', 413, `The body exceeds ${limits.maxBodyBytes} bytes.`);
  }
  if (text === undefined || text.length === 0) {
    throw validationFailed([{ path: '', message: 'a JSON body is required' }], 'The request needs a JSON body.');
  }
  if (!JSON_CONTENT_TYPE.test(event.headers['content-type'] ?? '')) {
    throw new DomainError('unsupported_media_type', 415, 'The body must be application/json.');
  }
  const deep = tooDeep(text, limits.maxDepth);
  if (deep !== undefined) {
    throw validationFailed(
      [{ path: deep, message: `nests arrays and objects deeper than ${limits.maxDepth} levels` }],
      'The body is nested too deeply.',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DomainError('malformed_json', 400, 'The body is not valid JSON.');
  }
  // JSON.parse rounds to the nearest double: refuse what it would silently change.
  const inexact = inexactNumber(text);
  if (inexact !== undefined) {
    throw validationFailed(
      [{ path: '', message: `the number ${inexact.slice(0, 40)} has more digits than a JSON number holds exactly` }],
      'The body has a number that cannot be read exactly.',
    );
  }
  // `"\ud800"` parses to a lone surrogate, which no store can hold as UTF-8: refuse it here
  // rather than let it fail (or be replaced) deep in a write.
  const broken = illFormedText(json);
  if (broken !== undefined) {
    throw validationFailed([{ path: broken, message: 'is not well-formed Unicode (a lone surrogate)' }]);
  }
  return json;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** The JSON pointer of the first string or key that is not well-formed Unicode. Depth is bounded already. */
export function illFormedText(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return wellFormed(value) ? undefined : path || '/';
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!wellFormed(key)) return at;
    const found = illFormedText(v, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`input: ${name} must be a positive integer`);
  return value;
}

export function inputMiddleware(options: InputOptions = {}): MiddlewareObj<HttpEvent, HttpResult> {
  const limits = {
    maxBodyBytes: positiveInteger('maxBodyBytes', options.maxBodyBytes ?? MAX_BODY_BYTES),
    maxDepth: positiveInteger('maxDepth', options.maxDepth ?? MAX_JSON_DEPTH),
  };
  return {
    before: (request) => {
      const state = stateOf(request);
      const { event } = request;
      checkScenario(event);
      const query = (state.spec.query ?? NO_QUERY).safeParse(event.queryStringParameters ?? {});
      if (!query.success) throw validationFailed(zodErrors(query.error, '/query'), 'The query string is not valid.');
      state.query = query.data;
      if (!state.spec.body) return;
      const text = rawBody(event);
      const absent = state.spec.bodyOptional === true && (text === undefined || text.length === 0);
      const body = state.spec.body.safeParse(absent ? {} : parseBody(event, limits));
      if (!body.success) throw validationFailed(zodErrors(body.error, ''));
      state.body = body.data;
    },
  };
}
