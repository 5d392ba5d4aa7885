/** The SSE parser: events split anywhere across chunks, comments, multi-line data, CRLF. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser, sseComment, sseData } from './sse.ts';

function parseAll(chunks: string[]): string[] {
  const p = new SseParser();
  return [...chunks.flatMap((c) => p.push(c)), ...p.end()];
}

describe('SseParser', () => {
  it('reads data events, skipping comments and other fields, joining multi-line data', () => {
    const text = ': hi\n\ndata: {"a":1}\n\nevent: x\ndata: one\ndata: two\n\r\ndata:[DONE]\n\n';
    expect(parseAll([text])).toEqual(['{"a":1}', 'one\ntwo', '[DONE]']);
    expect(parseAll(['data: tail'])).toEqual(['tail']);
  });

  it('gives the same events however the text is split', () => {
    const payloads = ['{"x":"a b"}', 'line1\nline2', '[DONE]'];
    const text = `${sseComment('note')}${payloads.map(sseData).join('')}`;
    fc.assert(
      fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 8 }), (cuts) => {
        const points = [...new Set([0, ...cuts.sort((a, b) => a - b), text.length])];
        const chunks = points.slice(1).map((end, i) => text.slice(points[i], end));
        expect(parseAll(chunks)).toEqual(payloads);
      }),
    );
  });
});
