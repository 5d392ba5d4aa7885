/**
 * The local HTTP server through real HTTP: the API Gateway v2 events the handlers get, the
 * authorizer flow, the server's own problem responses and the mapping of handler results.
 */
import { request, type Server } from 'node:http';
import { connect } from 'node:net';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CallerContext, HttpEvent, HttpHandler } from '#shared/http/contract';
import { MAX_BODY_BYTES } from '#shared/http/limits';
import { problemType } from '#shared/http/problem';
import {
  type Authorizer,
  type AuthorizerResult,
  closeHttpServer,
  createHttpServer,
  type HandlerMap,
  type HttpServerOptions,
  listen,
  type RouteBinding,
} from './http-server.ts';

const ROUTES: RouteBinding[] = [
  { method: 'GET', path: '/v1/health', fn: 'health', access: 'public' },
  { method: 'POST', path: '/v1/agents', fn: 'agents', access: 'operator' },
  { method: 'GET', path: '/v1/agents/{id}', fn: 'agents', access: 'authenticated' },
  { method: 'GET', path: '/v1/agents/me', fn: 'health', access: 'authenticated' },
  { method: 'GET', path: '/v1/agents/{id}/balance', fn: 'agents', access: 'authenticated' },
  { method: 'PUT', path: '/v1/agents/{id}/state', fn: 'agents', access: 'agent' },
  { method: 'POST', path: '/v1/transfers', fn: 'transfers', access: 'agent' },
];

const CALLER: CallerContext = { role: 'agent', agent_id: 'agt_1' };
const GOOD_KEY = 'Bearer good-key';

/** Sends raw bytes (what fetch would refuse to send) and reads the whole answer. */
function rawRequest(text: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const answer = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = answer.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      const length = Number(headers['content-length'] ?? 0);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n').slice(0, length) });
    });
    // A server that keeps the connection open has answered once the body arrived.
    setTimeout(() => socket.end(), 1_000).unref();
  });
}

let base = '';

/** Handlers that record the events they get and answer what the test sets. */
function recorder() {
  const events: HttpEvent[] = [];
  let answer: (event: HttpEvent) => ReturnType<HttpHandler> = async () => ({ statusCode: 200, body: '{}' });
  const handler: HttpHandler = vi.fn(async (event: HttpEvent) => {
    events.push(event);
    return answer(event);
  });
  return {
    events,
    handler,
    last(): HttpEvent {
      const event = events.at(-1);
      if (!event) throw new Error('no handler call recorded');
      return event;
    },
    answer(fn: (event: HttpEvent) => ReturnType<HttpHandler>) {
      answer = fn;
    },
  };
}

describe('local HTTP server', () => {
  const calls = recorder();
  const authorizerEvents: APIGatewayRequestAuthorizerEventV2[] = [];
  const authorizer = vi.fn<Authorizer>(async (event): Promise<AuthorizerResult> => {
    authorizerEvents.push(event);
    return event.identitySource[0] === GOOD_KEY
      ? { isAuthorized: true, context: CALLER }
      : { isAuthorized: false, context: { role: 'anonymous' } };
  });
  const logLines: string[] = [];
  const errors: string[] = [];
  const staticHandler = vi.fn<NonNullable<HttpServerOptions['staticHandler']>>((req, res) => {
    if (req.url !== '/') return false;
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>dashboard</h1>');
    return true;
  });
  let server: Server;

  beforeAll(async () => {
    const handlers: HandlerMap = { health: calls.handler, agents: calls.handler, transfers: calls.handler };
    server = createHttpServer({
      handlers,
      authorizer,
      staticHandler,
      routes: ROUTES,
      verbose: true,
      log: (line) => logLines.push(line),
      logError: (message) => errors.push(message),
    });
    base = `http://127.0.0.1:${await listen(server, 0)}`;
  });
  afterAll(() => closeHttpServer(server));
  afterEach(() => {
    calls.answer(async () => ({ statusCode: 200, body: '{}' }));
    vi.clearAllMocks();
  });

  describe('events', () => {
    it('builds an API Gateway HTTP API v2 event', async () => {
      const res = await fetch(`${base}/v1/agents/ab%20c/balance?limit=5&tag=a&tag=b%2Cc&empty=`, {
        headers: { Authorization: GOOD_KEY, 'X-Custom-Header': 'Yes', 'User-Agent': 'test-agent/1.0' },
      });
      expect(res.status).toBe(200);
      const event = calls.last();
      expect(event.version).toBe('2.0');
      expect(event.routeKey).toBe('GET /v1/agents/{id}/balance');
      expect(event.rawPath).toBe('/v1/agents/ab%20c/balance');
      expect(event.rawQueryString).toBe('limit=5&tag=a&tag=b%2Cc&empty=');
      expect(event.queryStringParameters).toEqual({ limit: '5', tag: 'a,b,c', empty: '' });
      expect(event.pathParameters).toEqual({ id: 'ab c' });
      expect(event.headers['x-custom-header']).toBe('Yes');
      expect(event.headers.authorization).toBe(GOOD_KEY);
      expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
      expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
      expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(event.body).toBeUndefined();
      expect(event.isBase64Encoded).toBe(false);
      expect(event.cookies).toBeUndefined();

      const rc = event.requestContext;
      expect(rc.routeKey).toBe('GET /v1/agents/{id}/balance');
      expect(rc.stage).toBe('$default');
      expect(rc.http).toEqual({
        method: 'GET',
        path: '/v1/agents/ab%20c/balance',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test-agent/1.0',
      });
      expect(rc.accountId).toMatch(/^\d{12}$/);
      expect(rc.apiId).toBeTruthy();
      expect(rc.domainName).toBe('127.0.0.1');
      expect(rc.requestId).toBeTruthy();
      expect(rc.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
      expect(Math.abs(rc.timeEpoch - Date.now())).toBeLessThan(10_000);
      expect(rc.authorizer.lambda).toEqual(CALLER);
      expect(res.headers.get('apigw-requestid')).toBe(rc.requestId);
    });

    it('gives every request a fresh request id', async () => {
      await fetch(`${base}/v1/health`);
      await fetch(`${base}/v1/health`);
      const [a, b] = calls.events.slice(-2).map((event) => event.requestContext.requestId);
      expect(a).toBeTruthy();
      expect(a).not.toBe(b);
    });

    it('joins repeated headers with commas and moves cookies out of the headers', async () => {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(`${base}/v1/health`, {
          headers: ['Host', '127.0.0.1', 'X-Multi', 'one', 'X-Multi', 'two', 'Cookie', 'a=1; b=2', 'Cookie', 'c=3'],
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      const event = calls.last();
      expect(event.headers['x-multi']).toBe('one,two');
      expect(event.headers.cookie).toBeUndefined();
      expect(event.cookies).toEqual(['a=1', 'b=2', 'c=3']);
    });

    it('passes JSON bodies as text and binary bodies as base64', async () => {
      const json = JSON.stringify({ to_agent_id: 'agt_2', amount: 1.5, memo: 'café' });
      await fetch(`${base}/v1/transfers`, {
        method: 'POST',
        headers: { Authorization: GOOD_KEY, 'Content-Type': 'application/json; charset=utf-8' },
        body: json,
      });
      expect(calls.last().body).toBe(json);
      expect(calls.last().isBase64Encoded).toBe(false);
      expect(calls.last().routeKey).toBe('POST /v1/transfers');
      expect(calls.last().pathParameters).toBeUndefined();

      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      await fetch(`${base}/v1/transfers`, {
        method: 'POST',
        headers: { Authorization: GOOD_KEY, 'Content-Type': 'application/octet-stream' },
        body: bytes,
      });
      expect(calls.last().isBase64Encoded).toBe(true);
      expect(Buffer.from(calls.last().body ?? '', 'base64')).toEqual(bytes);
    });

    it('prefers a literal route over a parameter and tolerates a trailing slash', async () => {
      await fetch(`${base}/v1/agents/me`, { headers: { Authorization: GOOD_KEY } });
      expect(calls.last().routeKey).toBe('GET /v1/agents/me');
      await fetch(`${base}/v1/agents/agt_9/`, { headers: { Authorization: GOOD_KEY } });
      expect(calls.last().routeKey).toBe('GET /v1/agents/{id}');
      expect(calls.last().pathParameters).toEqual({ id: 'agt_9' });
      expect(calls.last().rawPath).toBe('/v1/agents/agt_9/');
    });

    it('gives handlers a Lambda context', async () => {
      await fetch(`${base}/v1/health`);
      const context = vi.mocked(calls.handler).mock.calls.at(-1)?.[1];
      expect(context?.functionName).toContain('health');
      expect(context?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(context?.getRemainingTimeInMillis()).toBeGreaterThan(0);
    });
  });

  describe('authorization', () => {
    it('answers 401 without an Authorization header and never calls the authorizer', async () => {
      const res = await fetch(`${base}/v1/agents/agt_1`);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ type: problemType('unauthorized'), status: 401, code: 'unauthorized' });
      expect(authorizer).not.toHaveBeenCalled();
      expect(calls.handler).not.toHaveBeenCalled();
    });

    it('answers 403 when the authorizer refuses, without calling the handler', async () => {
      const res = await fetch(`${base}/v1/agents/agt_1`, { headers: { Authorization: 'Bearer wrong' } });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ status: 403, code: 'forbidden', title: 'Forbidden' });
      expect(authorizer).toHaveBeenCalledOnce();
      expect(calls.handler).not.toHaveBeenCalled();
    });

    it('sends the authorizer a v2 REQUEST event with the Authorization header as identity source', async () => {
      await fetch(`${base}/v1/agents/agt_1?x=1`, { headers: { Authorization: GOOD_KEY } });
      const event = authorizerEvents.at(-1);
      expect(event).toMatchObject({
        version: '2.0',
        type: 'REQUEST',
        identitySource: [GOOD_KEY],
        routeKey: 'GET /v1/agents/{id}',
        rawPath: '/v1/agents/agt_1',
        rawQueryString: 'x=1',
        pathParameters: { id: 'agt_1' },
        queryStringParameters: { x: '1' },
      });
      expect(event?.routeArn).toMatch(/^arn:aws:execute-api:[\w-]+:\d{12}:\w+\/\$default\/GET\/v1\/agents\/agt_1$/);
      expect(event?.requestContext).not.toHaveProperty('authorizer');
    });

    it('serves public routes without a key and without an authorizer context', async () => {
      const res = await fetch(`${base}/v1/health`);
      expect(res.status).toBe(200);
      expect(authorizer).not.toHaveBeenCalled();
      expect(calls.last().requestContext).not.toHaveProperty('authorizer');
    });

    it('answers 500 when the authorizer fails, without leaking the error', async () => {
      authorizer.mockRejectedValueOnce(new Error('secret internals'));
      const res = await fetch(`${base}/v1/agents/agt_1`, { headers: { Authorization: GOOD_KEY } });
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(JSON.parse(body)).toMatchObject({ code: 'internal_error' });
      expect(body).not.toContain('secret internals');
      expect(errors.at(-1)).toContain('authorizer');
    });
  });

  describe("the server's own answers", () => {
    it('answers 404 for an unknown path', async () => {
      const res = await fetch(`${base}/v1/nothing-here`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await res.json()) as Record<string, unknown>;
      expect(problem).toMatchObject({
        type: problemType('not_found'),
        title: 'Not found',
        status: 404,
        code: 'not_found',
      });
      expect(problem.detail).toEqual(expect.any(String));
      expect(problem.trace_id).toMatch(/^[0-9a-f]{32}$/);
    });

    it('answers 405 with Allow for a known path and another method', async () => {
      const res = await fetch(`${base}/v1/agents`, { method: 'DELETE' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });

      const multi = await fetch(`${base}/v1/agents/agt_1/state`, { method: 'PATCH' });
      expect(multi.headers.get('allow')).toBe('PUT');
    });

    it(`answers 413 for bodies over ${MAX_BODY_BYTES} bytes, without calling the handler`, async () => {
      const res = await fetch(`${base}/v1/transfers`, {
        method: 'POST',
        headers: { Authorization: GOOD_KEY, 'Content-Type': 'application/json' },
        body: 'x'.repeat(MAX_BODY_BYTES + 1),
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ status: 413, code: 'payload_too_large' });
      expect(calls.handler).not.toHaveBeenCalled();
      expect(authorizer).not.toHaveBeenCalled();
    });

    it('answers 413 for an oversized streamed body without Content-Length', async () => {
      const chunk = new Uint8Array(64 * 1024);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > 2 * MAX_BODY_BYTES) controller.close();
          else {
            sent += chunk.length;
            controller.enqueue(chunk);
          }
        },
      });
      const res = await fetch(`${base}/v1/transfers`, {
        method: 'POST',
        headers: { Authorization: GOOD_KEY, 'Content-Type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(calls.handler).not.toHaveBeenCalled();
    });

    it('accepts a body of exactly the limit', async () => {
      const res = await fetch(`${base}/v1/transfers`, {
        method: 'POST',
        headers: { Authorization: GOOD_KEY, 'Content-Type': 'text/plain' },
        body: 'y'.repeat(MAX_BODY_BYTES),
      });
      expect(res.status).toBe(200);
      expect(calls.last().body?.length).toBe(MAX_BODY_BYTES);
    });

    it('hands paths outside the API to the static hook', async () => {
      const res = await fetch(`${base}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('<h1>dashboard</h1>');
      const miss = await fetch(`${base}/missing.js`);
      expect(miss.status).toBe(404);
      expect(staticHandler).toHaveBeenCalledTimes(2);
      expect(calls.handler).not.toHaveBeenCalled();
    });

    it('logs one line per request when verbose', async () => {
      logLines.length = 0;
      await fetch(`${base}/v1/health?x=1`);
      expect(logLines).toEqual([expect.stringMatching(/^GET \/v1\/health\?x=1 200 \d+ms$/)]);
    });
  });

  describe('what API Gateway would pass on, and what the HTTP layer refuses', () => {
    it('keeps every query key, __proto__ included, in a null-prototype object', async () => {
      await fetch(`${base}/v1/health?__proto__=1&constructor=2&x=a&x=b`);
      const query = calls.last().queryStringParameters;
      expect(Object.getPrototypeOf(query)).toBeNull();
      expect(Object.keys(query ?? {})).toEqual(['__proto__', 'constructor', 'x']);
      expect(Object.getOwnPropertyDescriptor(query, '__proto__')?.value).toBe('1');
      expect(query?.x).toBe('a,b');
    });

    it.each(['Idempotency-Key', 'X-Scenario-Id'])(
      'refuses %s sent on two lines with 400 problem+json',
      async (name) => {
        const answer = await rawRequest(
          `POST /v1/transfers HTTP/1.1\r\nHost: x\r\nAuthorization: ${GOOD_KEY}\r\n${name}: k1\r\n${name}: k2\r\nContent-Length: 0\r\n\r\n`,
        );
        expect(answer.status).toBe(400);
        expect(answer.headers['content-type']).toBe('application/problem+json');
        expect(JSON.parse(answer.body)).toMatchObject({
          code: 'validation_failed',
          errors: [{ path: `/headers/${name.toLowerCase()}` }],
        });
        expect(calls.handler).not.toHaveBeenCalled();
        expect(authorizer).not.toHaveBeenCalled();
      },
    );

    it.each([
      [
        'headers over 16 KB',
        `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
        431,
        'headers_too_large',
      ],
      [
        'a NUL in a header line',
        'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0000b\r\n\r\n',
        400,
        'malformed_request',
      ],
      ['a space in a header name', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX Bad: a\r\n\r\n', 400, 'malformed_request'],
      [
        'Transfer-Encoding with Content-Length',
        'POST /v1/transfers HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
        'malformed_request',
      ],
    ])('answers %s with problem+json', async (_, raw, status, code) => {
      const answer = await rawRequest(raw);
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      const doc = JSON.parse(answer.body);
      expect(doc).toMatchObject({ status, code, type: problemType(code as 'malformed_request') });
      expect(doc.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
      expect(calls.handler).not.toHaveBeenCalled();
    });
  });

  describe('handler results', () => {
    it('writes status, headers, cookies and the body', async () => {
      calls.answer(async () => ({
        statusCode: 201,
        headers: { 'content-type': 'application/json', 'x-count': 3, 'x-flag': true },
        cookies: ['session=abc; HttpOnly', 'theme=dark'],
        body: JSON.stringify({ agent_id: 'agt_2' }),
      }));
      const res = await fetch(`${base}/v1/agents`, { method: 'POST', headers: { Authorization: GOOD_KEY } });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-count')).toBe('3');
      expect(res.headers.get('x-flag')).toBe('true');
      expect(res.headers.getSetCookie()).toEqual(['session=abc; HttpOnly', 'theme=dark']);
      expect(await res.json()).toEqual({ agent_id: 'agt_2' });
    });

    it('writes multiValueHeaders and decodes base64 bodies', async () => {
      const bytes = Buffer.from([1, 2, 3, 200]);
      calls.answer(
        async () =>
          ({
            statusCode: 200,
            headers: { 'content-type': 'application/octet-stream' },
            multiValueHeaders: { 'x-many': ['a', 'b'] },
            isBase64Encoded: true,
            body: bytes.toString('base64'),
          }) as Awaited<ReturnType<HttpHandler>>,
      );
      const res = await fetch(`${base}/v1/health`);
      expect(res.headers.get('x-many')).toBe('a, b');
      expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    });

    it('treats a string result as a 200 JSON body, as API Gateway does', async () => {
      calls.answer(async () => '{"status":"ok"}');
      const res = await fetch(`${base}/v1/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.text()).toBe('{"status":"ok"}');
    });

    it('answers 500 problem+json when the handler throws, without leaking the error', async () => {
      calls.answer(async () => {
        throw new Error('db password is hunter2');
      });
      const res = await fetch(`${base}/v1/health`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const body = await res.text();
      expect(JSON.parse(body)).toMatchObject({ status: 500, code: 'internal_error', title: 'Internal error' });
      expect(body).not.toContain('hunter2');
      expect(errors.at(-1)).toContain('health');
    });
  });
});

describe('local HTTP server without some modules', () => {
  it('answers 503 for routes whose handler or authorizer is missing', async () => {
    const server = createHttpServer({ handlers: {}, routes: ROUTES, logError: () => {} });
    const base = `http://127.0.0.1:${await listen(server, 0)}`;
    try {
      const health = await fetch(`${base}/v1/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ code: 'service_unavailable' });
      expect((await fetch(`${base}/v1/agents/x`)).status).toBe(401);
      expect((await fetch(`${base}/v1/agents/x`, { headers: { Authorization: GOOD_KEY } })).status).toBe(503);
    } finally {
      await closeHttpServer(server);
    }
  });
});
