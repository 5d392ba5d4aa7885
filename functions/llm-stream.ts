/**
 * The LLM gateway with response streaming, behind a Lambda function URL (InvokeMode
 * RESPONSE_STREAM): API Gateway's HTTP API cannot stream, so `stream: true` calls that want
 * their tokens as they come use this URL (`<url>/v1/llm`, the stack's `LlmStreamUrl` output).
 * It serves the same routes with the same handler as the `llm` function; a function URL has no
 * authorizer, so it runs the authorizer's key check itself and hands the handler the caller
 * exactly as API Gateway would.
 */
import type { Writable } from 'node:stream';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { authorizerDepsOf, makeAuthorizer } from '#functions/authorizer';
import { llmDepsOf, makeHandler } from '#functions/http/llm';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { DomainError, unauthorized } from '#shared/core/errors';
import type { AuthorizerResult, HttpEvent, HttpHandler, StreamingResult } from '#shared/http/contract';
import { problemResponse } from '#shared/http/problem';
import { routeKeysOf } from '#shared/http/routes';
import { pipeStream } from '#shared/http/streaming';

/** What the Lambda runtime hands a streaming handler: a writable that knows its content type. */
export type ResponseStream = Writable & { setContentType?(type: string): void };

type StreamHandler = (event: LambdaFunctionURLEvent, out: ResponseStream, context: Context) => Promise<void>;

/** The runtime's globals for streaming; absent outside Lambda (tests, `npm run invoke`). */
interface LambdaGlobals {
  streamifyResponse(handler: StreamHandler): StreamHandler;
  HttpResponseStream: { from(out: Writable, prelude: Record<string, unknown>): Writable };
}
// Libraries put other things on `awslambda` (Powertools' invoke store): test for the functions.
const runtime = (): LambdaGlobals | undefined => {
  const g = (globalThis as { awslambda?: Partial<LambdaGlobals> }).awslambda;
  return typeof g?.streamifyResponse === 'function' && g.HttpResponseStream ? (g as LambdaGlobals) : undefined;
};

/** The content type and delimiter by which a function URL tells the status and headers from the body. */
export const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

/** The status and headers, then the body: the runtime's `HttpResponseStream.from`, or the same bytes. */
function withPrelude(out: ResponseStream, prelude: { statusCode: number; headers: Record<string, string> }): Writable {
  const lambda = runtime();
  if (lambda) return lambda.HttpResponseStream.from(out, prelude);
  out.setContentType?.(PRELUDE_CONTENT_TYPE);
  out.write(JSON.stringify(prelude));
  out.write(new Uint8Array(8));
  return out;
}

const ROUTE_KEYS = new Set(routeKeysOf('llm'));

/** The function URL event as the HTTP stack expects it: its route, and the caller the key names. */
async function routed(event: LambdaFunctionURLEvent, authorize: Authorize): Promise<HttpEvent> {
  const routeKey = `${event.requestContext.http.method} ${event.rawPath.replace(/\/+$/, '')}`;
  if (!ROUTE_KEYS.has(routeKey)) throw new DomainError('not_found', 404, `No route ${routeKey} on the streaming URL.`);
  const authorization = event.headers?.authorization;
  if (!authorization) throw unauthorized('an Authorization: Bearer <key> header is required');
  const decision = await authorize(authorization);
  if (!decision.isAuthorized) throw new DomainError('forbidden', 403, 'the key is not valid for this API');
  return {
    ...event,
    routeKey,
    headers: event.headers ?? {},
    requestContext: { ...event.requestContext, routeKey, authorizer: { lambda: decision.context } },
  } as unknown as HttpEvent;
}

type Authorize = (authorization: string) => Promise<AuthorizerResult>;

export function makeStreamHandler(deps: { http: HttpHandler; authorize: Authorize }): StreamHandler {
  return async (event, out, context) => {
    let result: StreamingResult;
    try {
      result = (await deps.http(await routed(event, deps.authorize), context)) as StreamingResult;
    } catch (err) {
      result = problemResponse(err);
    }
    const { stream, statusCode = 200, headers = {}, body = '' } = result;
    const sink = withPrelude(out, { statusCode, headers: headers as Record<string, string> });
    if (stream) await pipeStream(stream, sink);
    else sink.end(body);
  };
}

/** The stream handler from the configuration: the `llm` function's handler, the authorizer's key check. */
export function llmStreamOf(config: Parameters<typeof llmDepsOf>[0]): StreamHandler {
  const authorizer = makeAuthorizer(authorizerDepsOf(config));
  const authorize: Authorize = (authorization) => authorizer({ headers: { authorization } } as never);
  return makeStreamHandler({ http: makeHandler(llmDepsOf(config)), authorize });
}

const entry = lambdaEntry((config) => llmStreamOf(config));
export const handler: StreamHandler = runtime()?.streamifyResponse(entry) ?? entry;
