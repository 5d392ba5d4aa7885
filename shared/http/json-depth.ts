/**
 * The nesting depth of a JSON text, measured on the text before JSON.parse: recursion over a
 * deeply nested value (validation, serialization for DynamoDB) overflows the stack long before
 * the body limit is reached (`[[[[…]]]]` nests 4 000 levels in 8 KB), so such a body is refused
 * while it is still a string.
 */

const pointer = (path: readonly (string | number)[]) =>
  path.map((p) => `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

/** Index just past the string that starts at `start` (a `"`). */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

function keyOf(raw: string): string {
  try {
    return String(JSON.parse(raw));
  } catch {
    return raw.slice(1, -1);
  }
}

/**
 * The JSON pointer of the first array or object nested deeper than `maxDepth`, or undefined.
 * Lenient on malformed text (JSON.parse reports that afterwards); linear and non-recursive.
 */
export function tooDeep(text: string, maxDepth: number): string | undefined {
  // One slot per open container: the key or index being read in it.
  const path: (string | number)[] = [];
  const kinds: string[] = [];
  let pendingKey = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(text, i);
      if (kinds.at(-1) === '{') pendingKey = text.slice(i, end);
      i = end;
      continue;
    }
    if (c === '{' || c === '[') {
      if (kinds.length >= maxDepth) return pointer(path);
      kinds.push(c);
      path.push(c === '[' ? 0 : '');
    } else if (c === '}' || c === ']') {
      kinds.pop();
      path.pop();
    } else if (c === ':' && kinds.at(-1) === '{') {
      path[path.length - 1] = keyOf(pendingKey);
    } else if (c === ',' && kinds.at(-1) === '[') {
      path[path.length - 1] = Number(path.at(-1)) + 1;
    }
    i++;
  }
  return undefined;
}
