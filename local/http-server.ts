/**
 * The HTTP API of the local stack: a node:http server that routes with the shared route
 * table, runs the real authorizer and handlers on API Gateway HTTP API events (payload
 * format 2.0) and answers the way API Gateway would, so a handler that works here works
 * behind API Gateway. Per-agent throttling is the handlers' job, not this server's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type {
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2,
  APIGatewayRequestAuthorizerEventV2,
  Context,
} from 'aws-lambda';
import type { ProblemCode } from '#shared/core/errors';
import type { CallerContext, HttpEvent, HttpHandler } from '#shared/http/contract';
import { HTTP_FUNCTIONS, type HttpFunction, ROUTES, type RouteSpec, routeKey } from '#shared/http/routes';

/**
 * Request bodies above this are refused while being read. The handlers enforce the API's own
 * 64 KB limit; API Gateway would accept up to 10 MB. This bound only keeps the local server
 * from buffering unbounded input.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Placeholder identity of the local "account" and API, where API Gateway puts real ones. */
const ACCOUNT_ID = '000000000000';
const API_ID = 'local';
/** API Gateway's integration timeout; handlers see it through getRemainingTimeInMillis(). */
const INTEGRATION_TIMEOUT_MS = 30_000;

/** What `functions/authorizer.ts` returns (simple responses). */
export interface AuthorizerResult {
  isAuthorized: boolean;
  context?: CallerContext;
}
export type Authorizer = (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<AuthorizerResult>;

/**
 * Serves what is not an API route (the dashboard). Returns true when it has taken the
 * request (and will answer it), false to let the server answer 404.
 */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export type HandlerMap = Partial<Record<HttpFunction, HttpHandler>>;

export interface HttpServerOptions {
  handlers: HandlerMap;
  /** Without one, non-public routes answer 503 (after the 401 check for a missing key). */
  authorizer?: Authorizer;
  staticHandler?: StaticHandler;
  /** Default: the shared ROUTES. */
  routes?: readonly RouteSpec[];
  /** One log line per request. */
  verbose?: boolean;
  log?: (line: string) => void;
  /** Where handler and authorizer failures go (always, like a Lambda's log). */
  logError?: (message: string, error: unknown) => void;
}

// ---------------------------------------------------------------------------------------------
// Routing

interface CompiledRoute {
  spec: RouteSpec;
  key: string;
  /** A literal segment, or `{ param }` for `{name}`. */
  segments: ReadonlyArray<string | { param: string }>;
  literalCount: number;
}

type RouteMatch =
  | { kind: 'route'; route: CompiledRoute; pathParameters: Record<string, string> }
  | { kind: 'wrong-method'; allow: string[] }
  | { kind: 'none' };

function compileRoutes(routes: readonly RouteSpec[]): CompiledRoute[] {
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

interface EventParts {
  base: APIGatewayProxyEventV2;
  headers: Record<string, string>;
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

  const query = new URLSearchParams(info.rawQueryString);
  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(query.keys())) queryStringParameters[key] = query.getAll(key).join(',');

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
    ...(query.size > 0 ? { queryStringParameters } : {}),
    requestContext,
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
  return { base, headers };
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

const TITLES: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function sendProblem(
  res: ServerResponse,
  info: RequestInfo,
  status: number,
  code: ProblemCode,
  detail: string,
  headers: Record<string, string> = {},
): void {
  // Whatever a failed handler result had set already must not leak into the problem.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const body = JSON.stringify({
    type: 'about:blank',
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    trace_id: info.traceId,
  });
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'apigw-requestid': info.requestId,
    ...headers,
  });
  res.end(body);
}

/**
 * Maps a handler's result as API Gateway does for payload 2.0: a result with a numeric
 * `statusCode` is a structured response; anything else (a string, an object) is the body of a
 * 200 `application/json` response.
 */
function sendResult(res: ServerResponse, info: RequestInfo, result: unknown): void {
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

// ---------------------------------------------------------------------------------------------
// Server

export function createHttpServer(options: HttpServerOptions): Server {
  const routes = compileRoutes(options.routes ?? ROUTES);
  const log = options.log ?? ((line: string) => console.log(line));
  const logError =
    options.logError ??
    ((message: string, error: unknown) => console.error(message, error instanceof Error ? error : ''));

  async function handle(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const match = matchRoute(routes, info.method, info.rawPath);
    if (match.kind === 'none') {
      if (options.staticHandler && (await options.staticHandler(req, res))) return;
      sendProblem(res, info, 404, 'not_found', `no route for ${info.rawPath}`);
      return;
    }
    if (match.kind === 'wrong-method') {
      const allow = match.allow.join(', ');
      sendProblem(res, info, 405, 'method_not_allowed', `${info.method} is not allowed; use ${allow}`, { allow });
      return;
    }

    const { route, pathParameters } = match;
    const read = await readBody(req, MAX_BODY_BYTES);
    if (!read.ok) {
      // Closing makes the client stop sending the rest of the body.
      sendProblem(res, info, 413, 'payload_too_large', `the request body exceeds ${MAX_BODY_BYTES} bytes`, {
        connection: 'close',
      });
      return;
    }

    const { base, headers } = buildEvent(req, info, route, pathParameters, read.body);

    let event: HttpEvent;
    if (route.spec.access === 'public') {
      // API Gateway sends no `authorizer` on routes without one. HttpEvent cannot express that,
      // so handlers of public routes must not read it.
      event = base as HttpEvent;
    } else {
      // The identity source is the Authorization header: without it API Gateway answers 401
      // and never calls the authorizer. (API Gateway also caches results per key; this
      // server asks every time, so a revoked key stops working here sooner than on AWS.)
      const authorization = headers.authorization;
      if (!authorization) {
        sendProblem(res, info, 401, 'unauthorized', 'an Authorization: Bearer <key> header is required');
        return;
      }
      if (!options.authorizer) {
        sendProblem(res, info, 503, 'service_unavailable', 'functions/authorizer.ts is not available');
        return;
      }
      let decision: AuthorizerResult;
      try {
        decision = await options.authorizer(authorizerEvent(base, authorization), lambdaContext('authorizer'));
      } catch (error) {
        logError(`authorizer failed on ${info.method} ${info.rawPath}:`, error);
        sendProblem(res, info, 500, 'internal_error', 'the request could not be authorized');
        return;
      }
      if (!decision.isAuthorized) {
        sendProblem(res, info, 403, 'forbidden', 'the key is not valid for this API');
        return;
      }
      if (!decision.context) {
        logError(`authorizer allowed ${info.method} ${info.rawPath} without a caller context`, undefined);
        sendProblem(res, info, 500, 'internal_error', 'the request could not be authorized');
        return;
      }
      event = { ...base, requestContext: { ...base.requestContext, authorizer: { lambda: decision.context } } };
    }

    const handler = options.handlers[route.spec.fn];
    if (!handler) {
      sendProblem(res, info, 503, 'service_unavailable', `functions/http/${route.spec.fn}.ts is not available`);
      return;
    }
    let result: unknown;
    try {
      result = await handler(event, lambdaContext(route.spec.fn));
      sendResult(res, info, result);
    } catch (error) {
      logError(`handler ${route.spec.fn} failed on ${route.key}:`, error);
      if (!res.headersSent) sendProblem(res, info, 500, 'internal_error', 'the request failed; see the server log');
      else res.destroy();
    }
  }

  return createServer((req, res) => {
    const startedAt = new Date();
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const trace = traceOf(req.headers['x-amzn-trace-id']);
    const info: RequestInfo = {
      // API Gateway's request ids are short base64 strings, fresh per request.
      requestId: randomBytes(10).toString('base64'),
      traceId: trace.traceId,
      traceHeader: trace.header,
      method: req.method ?? 'GET',
      rawPath: queryAt === -1 ? url : url.slice(0, queryAt),
      rawQueryString: queryAt === -1 ? '' : url.slice(queryAt + 1),
      startedAt,
    };
    if (options.verbose) {
      res.once('finish', () => {
        log(`${info.method} ${url} ${res.statusCode} ${Date.now() - startedAt.getTime()}ms`);
      });
    }
    handle(req, res, info).catch((error: unknown) => {
      logError(`request ${info.method} ${info.rawPath} failed:`, error);
      if (!res.headersSent) sendProblem(res, info, 500, 'internal_error', 'the request failed; see the server log');
      else res.destroy();
    });
  });
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

// ---------------------------------------------------------------------------------------------
// The real handlers

export interface LoadedHandlers {
  handlers: HandlerMap;
  authorizer?: Authorizer;
  /** Handler modules that do not exist yet (repository-relative paths). */
  missing: string[];
}

/**
 * Imports `functions/http/<fn>.ts` for every function of the route table and
 * `functions/authorizer.ts`. Call it only after the environment the handlers read at module
 * scope (table, endpoint, keys) is set. A module that is absent is reported in `missing`; a
 * module that fails to load is an error.
 */
export async function loadHandlers(root: URL = new URL('../', import.meta.url)): Promise<LoadedHandlers> {
  const loaded: LoadedHandlers = { handlers: {}, missing: [] };
  for (const fn of HTTP_FUNCTIONS) {
    const handler = await importHandler(root, `functions/http/${fn}.ts`, loaded.missing);
    if (handler) loaded.handlers[fn] = handler as HttpHandler;
  }
  const authorizer = await importHandler(root, 'functions/authorizer.ts', loaded.missing);
  if (authorizer) loaded.authorizer = authorizer as Authorizer;
  return loaded;
}

async function importHandler(root: URL, relativePath: string, missing: string[]): Promise<unknown> {
  const url = new URL(relativePath, root);
  if (!existsSync(fileURLToPath(url))) {
    missing.push(relativePath);
    return undefined;
  }
  let mod: unknown;
  try {
    mod = await import(url.href);
  } catch (error) {
    throw new Error(`${relativePath} failed to load: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (!isRecord(mod) || typeof mod.handler !== 'function') {
    throw new Error(`${relativePath} does not export a function named handler`);
  }
  return mod.handler;
}
