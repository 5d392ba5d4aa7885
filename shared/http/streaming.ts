/**
 * Streamed answers where the transport cannot stream, and where it can. API Gateway's HTTP API
 * takes a whole body, so `bufferedStreams` reads a streamed result to its end first (an SSE
 * client reads it all the same, only later). `pipeResult` writes a result to a Node writable
 * (the local server's response, a Lambda response stream) chunk by chunk, and cancels the
 * stream when the writable closes early, so the gateway learns that the client went away.
 */
import type { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { type HttpEvent, type HttpHandler, type HttpResult, isStreamingResult } from './contract.ts';

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

export function bufferedStreams(handler: HttpHandler): HttpHandler {
  return async (event: HttpEvent, context: Context) => {
    const result = await handler(event, context);
    if (!isStreamingResult(result)) return result;
    const { stream, ...rest } = result;
    return { ...rest, body: await readAll(stream) } satisfies HttpResult;
  };
}

/**
 * Writes `stream` to `out` as the client reads it. Resolves when the stream ended or the client
 * left (then the stream is cancelled); never rejects.
 */
export async function pipeStream(stream: ReadableStream<Uint8Array>, out: Writable): Promise<void> {
  const reader = stream.getReader();
  let gone = false;
  const onClose = () => {
    if (out.writableFinished) return;
    gone = true;
    reader.cancel().catch(() => {});
  };
  out.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (!out.write(value))
        await new Promise<void>((resolve) => {
          const go = () => {
            out.off('close', go);
            out.off('drain', go);
            resolve();
          };
          out.once('drain', go);
          out.once('close', go);
        });
    }
  } catch {
    // A stream that failed has settled its call already; the client sees the connection end.
  } finally {
    out.off('close', onClose);
    if (!gone) out.end();
  }
}
