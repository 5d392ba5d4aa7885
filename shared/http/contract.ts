/**
 * The contract between the authorizer, API Gateway (or the local adapter) and the handlers.
 */
import type {
  APIGatewayProxyEventV2WithLambdaAuthorizer,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';

export type Role = 'agent' | 'rater' | 'operator' | 'anonymous';

/** What the authorizer resolves a bearer key to (API Gateway passes it as `authorizer.lambda`). */
export interface CallerContext {
  role: Role;
  /** Set when role is `agent`. */
  agent_id?: string;
  /** Set when role is `rater`: a human's key, which may only read the prompt queue and reward. */
  rater_id?: string;
}

export type HttpEvent = APIGatewayProxyEventV2WithLambdaAuthorizer<CallerContext>;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/**
 * A result whose body is a stream (`text/event-stream`): the local server and the streaming
 * function URL pipe `stream` to the client as it comes; behind API Gateway, which cannot stream,
 * `bufferedStreams` reads it whole into `body` first.
 */
export type StreamingResult = HttpResult & { stream?: ReadableStream<Uint8Array> };

export const isStreamingResult = (r: unknown): r is StreamingResult & { stream: ReadableStream<Uint8Array> } =>
  typeof r === 'object' && r !== null && (r as StreamingResult).stream instanceof ReadableStream;
export type HttpHandler = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyResultV2>;

/**
 * What the authorizer answers (API Gateway "simple responses"): always a context, so a
 * request it lets through always names its caller (`anonymous` for a key it does not know).
 */
export interface AuthorizerResult {
  isAuthorized: boolean;
  context: CallerContext;
}
