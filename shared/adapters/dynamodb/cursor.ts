/**
 * Opaque pagination cursors: a DynamoDB key, base64url JSON. Decoding validates the shape so a
 * forged or truncated cursor is a 400, never a 500.
 */
import { validationFailed } from '../../core/errors.ts';

export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

export function decodeCursor(cursor: string, expectedAttributes: string[]): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      parsed &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      Object.keys(parsed).length === expectedAttributes.length &&
      expectedAttributes.every((a) => typeof (parsed as Record<string, unknown>)[a] === 'string')
    ) {
      return parsed as Record<string, string>;
    }
  } catch {
    // fall through
  }
  throw validationFailed([{ path: '/cursor', message: 'cursor is malformed' }]);
}
