import { describe, expect, it } from 'vitest';
import { lazyHandler } from './lazy-handler.ts';

describe('lazyHandler', () => {
  it('builds on the first invocation, once, and passes every argument through', async () => {
    let builds = 0;
    const handler = lazyHandler(() => {
      builds += 1;
      return async (event: number, context: string) => `${event}:${context}`;
    });
    expect(builds).toBe(0);
    expect(await handler(1, 'a')).toBe('1:a');
    expect(await handler(2, 'b')).toBe('2:b');
    expect(builds).toBe(1);
  });

  it('rejects the invocation whose build fails, and builds again on the next one', async () => {
    let attempt = 0;
    const handler = lazyHandler(() => {
      attempt += 1;
      if (attempt === 1) throw new Error('invalid configuration');
      return async () => 'ok';
    });
    await expect(handler()).rejects.toThrow('invalid configuration');
    await expect(handler()).resolves.toBe('ok');
    expect(attempt).toBe(2);
  });
});
