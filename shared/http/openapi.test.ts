/**
 * The OpenAPI document describes every route of the table completely, and the committed
 * docs/openapi.json is what the generator writes now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi.ts';
import { PROBLEM_CODES } from './problem.ts';
import { ROUTES, type RouteSpec } from './routes.ts';

type Operation = {
  security: unknown[];
  parameters: { name: string; in: string; required: boolean }[];
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }>;
};
const doc = openApiDocument('0.0.0-test');
const operation = (r: RouteSpec) =>
  (doc.paths[r.path] as Record<string, Operation>)[r.method.toLowerCase()] as Operation;

describe('openApiDocument', () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s is fully described', (_, r: RouteSpec) => {
    const op = operation(r);
    for (const status of Object.keys(r.responses)) {
      const success = op.responses[status];
      expect(success?.content?.['application/json']?.schema).toMatchObject({ type: 'object' });
      expect(success?.headers).toHaveProperty('X-Trace-Id');
      expect(Boolean(success?.headers?.['Idempotent-Replayed'])).toBe(r.idempotency !== 'none');
      expect(Boolean(success?.headers?.RateLimit)).toBe(r.access !== 'public');
    }
    const key = op.parameters.find((p) => p.name === 'Idempotency-Key');
    expect(key?.required ?? 'absent').toBe(r.idempotency === 'none' ? 'absent' : r.idempotency === 'required');
    if (r.access === 'public') expect(op.security).toEqual([]);
    else {
      expect(op.security).toEqual([{ bearer: [] }]);
      expect(op.responses['429']?.headers).toMatchObject({
        'Retry-After': expect.anything(),
        RateLimit: expect.anything(),
      });
    }
  });

  it('lists every problem code and names no server', () => {
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual(PROBLEM_CODES);
    expect(PROBLEM_CODES).toContain('too_many_requests');
    expect(doc).not.toHaveProperty('servers');
    expect(JSON.stringify(doc)).not.toContain('localhost');
  });

  it('is committed as docs/openapi.json, current', () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    const committed = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(committed, 'docs/openapi.json is out of date: run `npm run docs`').toBe(
      `${JSON.stringify(openApiDocument(version), null, 2)}\n`,
    );
  });
});
