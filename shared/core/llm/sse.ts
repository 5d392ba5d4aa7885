/**
 * Server-sent events, as far as OpenAI streams use them: an incremental parser that turns
 * arbitrary text chunks into the `data` payloads of complete events (lines joined, comments and
 * other fields ignored), and the encoder of one event. Pure: the provider client feeds it bytes.
 */

/** The end-of-stream payload OpenAI sends after the last chunk. */
export const DONE = '[DONE]';

export class SseParser {
  private buffer = '';
  private data: string[] = [];

  /** Feeds a chunk of text; returns the payloads of the events it completed. */
  push(text: string): string[] {
    this.buffer += text;
    const out: string[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl === -1) break;
      const width = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + width);
      this.line(line, out);
    }
    return out;
  }

  /** The payload of an event the stream ended without a blank line after, if any. */
  end(): string[] {
    const out: string[] = [];
    if (this.buffer) this.line(this.buffer, out);
    this.buffer = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: string[]): void {
    if (line === '') {
      if (this.data.length) out.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.data.push(value);
  }
}

/** One event carrying `payload` (a JSON text or `[DONE]`). */
export const sseData = (payload: string): string => `data: ${payload.replace(/\r?\n/g, '\ndata: ')}\n\n`;

/** A comment line: ignored by clients, used for what the gateway reports after a stream. */
export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
