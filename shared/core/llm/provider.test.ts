/** Provider messages as agents may see them: keys and tokens redacted, bounded. */
import { describe, expect, it } from 'vitest';
import { providerMessageOf, sanitizeProviderMessage } from './provider.ts';

describe('sanitizeProviderMessage', () => {
  it('redacts the key, key-shaped strings and bearer tokens, and strips control characters', () => {
    const key = 'my-provider-secret-123';
    const out = sanitizeProviderMessage(`bad key ${key}; Bearer abc.def sk-proj-AAAAAAAAAA\u0000end`, [key]);
    expect(out).not.toContain(key);
    expect(out).not.toContain('abc.def');
    expect(out).not.toContain('sk-proj');
    expect(out).not.toContain('\u0000');
    expect(sanitizeProviderMessage('x'.repeat(2000)).length).toBeLessThanOrEqual(501);
  });

  it('reads OpenAI-style error bodies, or takes the text', () => {
    expect(providerMessageOf('{"error":{"message":"nope"}}')).toBe('nope');
    expect(providerMessageOf('{"error":"flat"}')).toBe('flat');
    expect(providerMessageOf('<html>502</html>')).toBe('<html>502</html>');
  });
});
