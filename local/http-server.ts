/**
 * The HTTP API of the local stack: a node:http server that routes with the shared route
 * table, runs the real authorizer and handlers on API Gateway HTTP API events (payload
 * format 2.0) and answers the way API Gateway would, so a handler that works here works
 * behind API Gateway. Per-agent throttling is the handlers' job, not this server's. Every
 * answer of its own (404, 405, 413, 401, errors of the HTTP parser…) is problem+json from the
 * same renderer as the handlers'.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type {
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2,
  APIGatewayRequestAuthorizerEventV2,
  Context,
} from 'aws-lambda';
import { DomainError, type ProblemCode, validationFailed } from '#shared/core/errors';
import {
  type AuthorizerResult,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  isStreamingResult,
  type StreamingResult,
} from '#shared/http/contract';
import { MAX_BODY_BYTES } from '#shared/http/limits';
import { problemResponse } from '#shared/http/problem';
import { type HttpFunction, ROUTES, type RouteSpec, routeKey } from '#shared/http/routes';
import { pipeStream } from '#shared/http/streaming';

/** Placeholder identity of the local "account" and API, where API Gateway puts real ones. */
const ACCOUNT_ID = '000000000000';
const API_ID = 'local';
/** API Gateway's integration timeout; handlers see it through getRemainingTimeInMillis(). */
const INTEGRATION_TIMEOUT_MS = 30_000;
/** Headers that carry one value: repeated lines are refused rather than joined. */
const SINGLE_VALUED = ['idempotency-key', 'x-scenario-id', 'x-allocation-id'] as const;

export type { AuthorizerResult } from '#shared/http/contract';
export type Authorizer = (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<AuthorizerResult>;

/**
 * Serves what is not an API route (the dashboard). Returns true when it has taken the
 * request (and will answer it), false to let the server answer 404.
 */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export type HandlerMap = Partial<Record<HttpFunction, HttpHandler>>;

/** What the server needs of a route: where it goes and whether it needs the authorizer. */
export type RouteBinding = Pick<RouteSpec, 'method' | 'path' | 'fn' | 'access'>;

export interface HttpServerOptions {
  handlers: HandlerMap;
  /** Without one, non-public routes answer 503 (after the 401 check for a missing key). */
  authorizer?: Authorizer;
  staticHandler?: StaticHandler;
  /** Default: the shared ROUTES. */
  routes?: readonly RouteBinding[];
  /** One log line per request. */
  verbose?: boolean;
  log?: (line: string) => void;
  /** Where handler and authorizer failures go (always, like a Lambda's log). */
  logError?: (message: string, error: unknown) => void;
}

// ---------------------------------------------------------------------------------------------
// Routing

interface CompiledRoute {
  spec: RouteBinding;
  key: string;
  /** A literal segment, or `{ param }` for `{name}`. */
  segments: ReadonlyArray<string | { param: string }>;
  literalCount: number;
}

type RouteMatch =
  | { kind: 'route'; route: CompiledRoute; pathParameters: Record<string, string> }
  | { kind: 'wrong-method'; allow: string[] }
  | { kind: 'none' };

function compileRoutes(routes: readonly RouteBinding[]): CompiledRoute[] {
  return routes.map((spec) => {
    const segments = splitPath(spec.path).map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment)?.[1];
      return param === undefined ? segment : { param };
    });
    return { spec, key: routeKey(spec), segments, literalCount: segments.filter((s) => typeof s === 'string').length };
  });
}

/** Path segments, with one trailing slash tolerated (`/v1/health/` is `/v1/health`). */
function splitPath(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.split('/').slice(1);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchPath(route: CompiledRoute, segments: string[]): Record<string, string> | undefined {
  if (route.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, expected] of route.segments.entries()) {
    const actual = segments[i] ?? '';
    if (typeof expected === 'string') {
      if (expected !== actual) return undefined;
    } else {
      if (actual === '') return undefined;
      params[expected.param] = decodeSegment(actual);
    }
  }
  return params;
}

function matchRoute(routes: CompiledRoute[], method: string, rawPath: string): RouteMatch {
  const segments = splitPath(rawPath);
  const candidates = routes.flatMap((route) => {
    const pathParameters = matchPath(route, segments);
    return pathParameters ? [{ route, pathParameters }] : [];
  });
  if (candidates.length === 0) return { kind: 'none' };
  // Like API Gateway, the most specific route wins: `/v1/bids/open` before `/v1/bids/{id}`.
  const best = candidates
    .filter((c) => c.route.spec.method === method)
    .sort((a, b) => b.route.literalCount - a.route.literalCount)[0];
  if (best) return { kind: 'route', ...best };
  return { kind: 'wrong-method', allow: [...new Set(candidates.map((c) => c.route.spec.method))].sort() };
}

// ---------------------------------------------------------------------------------------------
// Requests → API Gateway events

/** Content types API Gateway passes as text; every other body arrives base64-encoded. */
function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript'
  );
}

type BodyRead = { ok: true; body: Buffer } | { ok: false };

function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ ok: false });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        resolve({ ok: false });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve({ ok: true, body: Buffer.concat(chunks) });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/** `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`. */
function apiGatewayTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** An X-Ray style trace header and the 32-hex trace id OpenTelemetry derives from it. */
function newTrace(): { header: string; traceId: string } {
  const epoch = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  const random = randomBytes(12).toString('hex');
  return { header: `Root=1-${epoch}-${random}`, traceId: `${epoch}${random}` };
}

/** The caller's trace when it sent a valid X-Amzn-Trace-Id (API Gateway keeps it), else a new one. */
function traceOf(incoming: string | string[] | undefined): { header: string; traceId: string } {
  const header = Array.isArray(incoming) ? incoming[0] : incoming;
  const match = header === undefined ? null : /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/i.exec(header);
  return header !== undefined && match ? { header, traceId: `${match[1]}${match[2]}`.toLowerCase() } : newTrace();
}

interface RequestInfo {
  requestId: string;
  traceId: string;
  traceHeader: string;
  method: string;
  rawPath: string;
  rawQueryString: string;
  startedAt: Date;
}

/**
 * `queryStringParameters` as API Gateway builds it: repeated keys joined with commas and every
 * key kept, `__proto__` included (a null-prototype object), so validation sees what was sent.
 */
function queryParameters(raw: string): Record<string, string> | undefined {
  const query = new URLSearchParams(raw);
  if (query.size === 0) return undefined;
  const out = Object.create(null) as Record<string, string>;
  for (const key of new Set(query.keys())) out[key] = query.getAll(key).join(',');
  return out;
}

interface EventParts {
  base: APIGatewayProxyEventV2;
}

function buildEvent(
  req: IncomingMessage,
  info: RequestInfo,
  route: CompiledRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
): EventParts {
  // API Gateway lower-cases header names, joins repeated headers with commas and moves the
  // cookies out of the headers into `cookies`.
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (name === 'cookie' || values === undefined) continue;
    headers[name] = values.join(',');
  }
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${sourceIp}` : sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  headers['x-amzn-trace-id'] = info.traceHeader;

  const cookies = (req.headersDistinct.cookie ?? [])
    .flatMap((line) => line.split(';'))
    .map((cookie) => cookie.trim())
    .filter(Boolean);

  const queryStringParameters = queryParameters(info.rawQueryString);

  const host = headers.host ?? 'localhost';
  const domainName = host.replace(/:\d+$/, '');
  const requestContext: APIGatewayEventRequestContextV2 = {
    accountId: ACCOUNT_ID,
    apiId: API_ID,
    domainName,
    domainPrefix: domainName.split('.')[0] ?? domainName,
    http: {
      method: info.method,
      path: info.rawPath,
      protocol: `HTTP/${req.httpVersion}`,
      sourceIp,
      userAgent: headers['user-agent'] ?? '',
    },
    requestId: info.requestId,
    routeKey: route.key,
    stage: '$default',
    time: apiGatewayTime(info.startedAt),
    timeEpoch: info.startedAt.getTime(),
  };

  const isText = isTextContentType(headers['content-type']);
  // Absent members are left out rather than set to undefined, as in API Gateway's JSON.
  const base: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: route.key,
    rawPath: info.rawPath,
    rawQueryString: info.rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext,
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
  return { base };
}

function authorizerEvent(event: APIGatewayProxyEventV2, authorization: string): APIGatewayRequestAuthorizerEventV2 {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:${region}:${ACCOUNT_ID}:${API_ID}/$default/${event.requestContext.http.method}${event.rawPath}`,
    identitySource: [authorization],
    routeKey: event.routeKey,
    rawPath: event.rawPath,
    rawQueryString: event.rawQueryString,
    cookies: event.cookies ?? [],
    headers: event.headers,
    ...(event.queryStringParameters ? { queryStringParameters: event.queryStringParameters } : {}),
    requestContext: event.requestContext,
    ...(event.pathParameters ? { pathParameters: event.pathParameters } : {}),
  };
}

function lambdaContext(functionName: string): Context {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const awsRequestId = randomUUID();
  const deadline = Date.now() + INTEGRATION_TIMEOUT_MS;
  const name = `syntropism-${functionName}`;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/${awsRequestId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

// ---------------------------------------------------------------------------------------------
// Responses

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Writes a structured result (a problem, a handler's answer) with the API Gateway request id. */
function writeResult(res: ServerResponse, info: RequestInfo, result: HttpResult): void {
  res.statusCode = result.statusCode ?? 200;
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  res.setHeader('apigw-requestid', info.requestId);
  const body =
    result.isBase64Encoded === true ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  res.setHeader('content-length', body.length);
  res.end(body);
}

function sendProblem(
  res: ServerResponse,
  info: RequestInfo,
  status: number,
  code: ProblemCode,
  detail: string,
  headers: Record<string, string> = {},
): void {
  sendError(res, info, new DomainError(code, status, detail), headers);
}

function sendError(res: ServerResponse, info: RequestInfo, error: unknown, headers: Record<string, string> = {}): void {
  // Whatever a failed handler result had set already must not leak into the problem.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  writeResult(res, info, problemResponse(error, info.traceId, headers));
}

/**
 * Maps a handler's result as API Gateway does for payload 2.0: a result with a numeric
 * `statusCode` is a structured response; anything else (a string, an object) is the body of a
 * 200 `application/json` response.
 */
async function sendResult(res: ServerResponse, info: RequestInfo, result: unknown): Promise<void> {
  if (isStreamingResult(result)) {
    await sendStream(res, info, result);
    return;
  }
  if (!isRecord(result) || typeof result.statusCode !== 'number') {
    const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null');
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'apigw-requestid': info.requestId,
    });
    res.end(body);
    return;
  }
  const status = result.statusCode;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new Error(`the handler returned an invalid statusCode ${String(status)}`);
  }
  res.statusCode = status;
  if (isRecord(result.headers)) {
    for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, String(value));
  }
  if (isRecord(result.multiValueHeaders)) {
    for (const [name, values] of Object.entries(result.multiValueHeaders)) {
      if (Array.isArray(values)) for (const value of values) res.appendHeader(name, String(value));
    }
  }
  if (Array.isArray(result.cookies)) {
    for (const cookie of result.cookies) res.appendHeader('set-cookie', String(cookie));
  }
  res.setHeader('apigw-requestid', info.requestId);
  const text = typeof result.body === 'string' ? result.body : '';
  const body = result.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  res.setHeader('content-length', body.length);
  res.end(body);
}

/**
 * A streamed result (SSE from the LLM gateway), as a Lambda function URL in RESPONSE_STREAM mode
 * sends it: the head at once, then each chunk as the handler produces it, no content-length.
 */
async function sendStream(
  res: ServerResponse,
  info: RequestInfo,
  result: StreamingResult & { stream: ReadableStream<Uint8Array> },
): Promise<void> {
  res.statusCode = result.statusCode ?? 200;
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  res.setHeader('apigw-requestid', info.requestId);
  res.flushHeaders();
  await pipeStream(result.stream, res);
}

// ---------------------------------------------------------------------------------------------
// Server

/** The first single-valued header sent on more than one line, refused before anything runs. */
function repeatedHeader(req: IncomingMessage): DomainError | undefined {
  for (const name of SINGLE_VALUED) {
    if ((req.headersDistinct[name]?.length ?? 0) > 1) {
      return validationFailed([{ path: `/headers/${name}`, message: 'must be given once' }]);
    }
  }
  return undefined;
}

interface Dispatch {
  options: HttpServerOptions;
  logError: (message: string, error: unknown) => void;
}

/**
 * The event with the authorizer's context, as API Gateway passes it; undefined when the request
 * was answered here (no key, no authorizer, refused, failed).
 */
async function authorized(
  d: Dispatch,
  res: ServerResponse,
  info: RequestInfo,
  base: APIGatewayProxyEventV2,
): Promise<HttpEvent | undefined> {
  // The identity source is the Authorization header: without it API Gateway answers 401 and
  // never calls the authorizer. (API Gateway also caches results per key; this server asks
  // every time, so a revoked key stops working here sooner than on AWS.)
  const authorization = base.headers.authorization;
  if (!authorization) {
    sendProblem(res, info, 401, 'unauthorized', 'an Authorization: Bearer <key> header is required');
    return undefined;
  }
  if (!d.options.authorizer) {
    sendProblem(res, info, 503, 'service_unavailable', 'the authorizer is not available');
    return undefined;
  }
  let decision: AuthorizerResult;
  try {
    decision = await d.options.authorizer(authorizerEvent(base, authorization), lambdaContext('authorizer'));
  } catch (error) {
    d.logError(`authorizer failed on ${info.method} ${info.rawPath}:`, error);
    sendProblem(res, info, 500, 'internal_error', 'the request could not be authorized');
    return undefined;
  }
  if (!decision.isAuthorized) {
    sendProblem(res, info, 403, 'forbidden', 'the key is not valid for this API');
    return undefined;
  }
  return { ...base, requestContext: { ...base.requestContext, authorizer: { lambda: decision.context } } };
}

async function invoke(d: Dispatch, res: ServerResponse, info: RequestInfo, route: CompiledRoute, event: HttpEvent) {
  const handler = d.options.handlers[route.spec.fn];
  if (!handler) {
    sendProblem(res, info, 503, 'service_unavailable', `the ${route.spec.fn} function is not available`);
    return;
  }
  try {
    await sendResult(res, info, await handler(event, lambdaContext(route.spec.fn)));
  } catch (error) {
    d.logError(`handler ${route.spec.fn} failed on ${route.key}:`, error);
    if (!res.headersSent) sendError(res, info, error);
    else res.destroy();
  }
}

async function handle(
  d: Dispatch,
  routes: CompiledRoute[],
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
): Promise<void> {
  const match = matchRoute(routes, info.method, info.rawPath);
  if (match.kind === 'none') {
    if (d.options.staticHandler && (await d.options.staticHandler(req, res))) return;
    sendProblem(res, info, 404, 'not_found', `no route for ${info.rawPath}`);
    return;
  }
  if (match.kind === 'wrong-method') {
    const allow = match.allow.join(', ');
    sendProblem(res, info, 405, 'method_not_allowed', `${info.method} is not allowed; use ${allow}`, { allow });
    return;
  }
  const repeated = repeatedHeader(req);
  if (repeated) {
    sendError(res, info, repeated);
    return;
  }
  const read = await readBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    // Closing makes the client stop sending the rest of the body.
    sendProblem(res, info, 413, 'payload_too_large', `The body exceeds ${MAX_BODY_BYTES} bytes.`, {
      connection: 'close',
    });
    return;
  }
  const { base } = buildEvent(req, info, match.route, match.pathParameters, read.body);
  // API Gateway sends no `authorizer` on routes without one. HttpEvent cannot express that,
  // so handlers of public routes must not read it.
  const event = match.route.spec.access === 'public' ? (base as HttpEvent) : await authorized(d, res, info, base);
  if (event) await invoke(d, res, info, match.route, event);
}

function requestInfo(req: IncomingMessage): RequestInfo {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const trace = traceOf(req.headers['x-amzn-trace-id']);
  return {
    // API Gateway's request ids are short base64 strings, fresh per request.
    requestId: randomBytes(10).toString('base64'),
    traceId: trace.traceId,
    traceHeader: trace.header,
    method: req.method ?? 'GET',
    rawPath: queryAt === -1 ? url : url.slice(0, queryAt),
    rawQueryString: queryAt === -1 ? '' : url.slice(queryAt + 1),
    startedAt: new Date(),
  };
}

/** What Node's HTTP parser refused, as the problem the API answers. */
function parserProblem(code: string | undefined): DomainError {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new DomainError('headers_too_large', 431, 'The request headers exceed 16 KB.');
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    return new DomainError('request_timeout', 408, 'The request was not received in time.');
  }
  return new DomainError('malformed_request', 400, `The request is not valid HTTP/1.1 (${code ?? 'parse error'}).`);
}

/**
 * Errors of the HTTP layer itself (oversized or malformed header lines, `Transfer-Encoding`
 * with `Content-Length`) never reach a request handler: Node reports them on the socket, and
 * without this they would be a bare 400/431 rather than the problem+json every answer is.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const result = problemResponse(parserProblem(error.code), newTrace().traceId);
  const body = result.body ?? '';
  const status = result.statusCode ?? 400;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    ...Object.entries(result.headers ?? {}).map(([name, value]) => `${name}: ${String(value)}`),
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

export function createHttpServer(options: HttpServerOptions): Server {
  const routes = compileRoutes(options.routes ?? ROUTES);
  const log = options.log ?? ((line: string) => console.log(line));
  const logError =
    options.logError ??
    ((message: string, error: unknown) => console.error(message, error instanceof Error ? error : ''));
  const dispatch: Dispatch = { options, logError };

  const server = createServer((req, res) => {
    const info = requestInfo(req);
    if (options.verbose) {
      res.once('finish', () => {
        log(`${info.method} ${req.url ?? '/'} ${res.statusCode} ${Date.now() - info.startedAt.getTime()}ms`);
      });
    }
    handle(dispatch, routes, req, res, info).catch((error: unknown) => {
      logError(`request ${info.method} ${info.rawPath} failed:`, error);
      if (!res.headersSent) sendError(res, info, error);
      else res.destroy();
    });
  });
  server.on('clientError', answerClientError);
  return server;
}

/** Listens on `host:port` (0 for a free port) and resolves with the bound port. */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets in-flight requests finish for `graceMs`, then drops what is left. */
export function closeHttpServer(server: Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
