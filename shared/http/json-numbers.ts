/**
 * Numbers a JSON body writes that `JSON.parse` cannot hold exactly. `JSON.parse` rounds every
 * number to the nearest double, so `1.0000000000000001` arrives as `1` and an amount with too
 * many digits would slip past the 6-decimal check silently. The API refuses such a body instead
 * (spec: more precision than a micro-credit is a 400), which needs the source text.
 */

/** Number tokens of a JSON text, outside strings, in order. */
export function numberTokens(text: string): string[] {
  const out: string[] = [];
  const token = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      // Skip the string, escapes included.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      token.lastIndex = i;
      const m = token.exec(text);
      if (!m) {
        i++;
        continue;
      }
      out.push(m[0]);
      i += m[0].length;
    } else {
      i++;
    }
  }
  return out;
}

/** A decimal's digits without leading or trailing zeros, and the power of ten of its last digit. */
function canonical(token: string): { negative: boolean; digits: string; exponent: number } {
  const negative = token.startsWith('-');
  const [mantissa = '', exp = '0'] = token.replace(/^-/, '').toLowerCase().split('e');
  const [whole = '', frac = ''] = mantissa.split('.');
  let digits = (whole + frac).replace(/^0+/, '');
  let exponent = Number(exp) - frac.length;
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += trailing;
  if (digits === '') return { negative: false, digits: '0', exponent: 0 };
  return { negative, digits, exponent };
}

/** The first number token whose value a double does not hold exactly, if any. */
export function inexactNumber(text: string): string | undefined {
  for (const token of numberTokens(text)) {
    const value = Number(token);
    if (!Number.isFinite(value)) return token;
    const a = canonical(token);
    const b = canonical(String(value));
    if (a.digits !== b.digits || a.exponent !== b.exponent || (a.negative !== b.negative && a.digits !== '0')) {
      return token;
    }
  }
  return undefined;
}
