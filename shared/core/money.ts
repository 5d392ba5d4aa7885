/**
 * Money: the only place where credits (wire format) and micro-credits (internal) meet.
 *
 * On the wire a credit amount is a JSON number with at most 6 decimals. Inside, every amount
 * is an integer number of micro-credits (1 credit = 1 000 000 µcr) held in a `bigint`-free
 * safe integer: the largest amount we accept (1e9 credits = 1e15 µcr) and every sum of such
 * balances in a realistic economy stay far below Number.MAX_SAFE_INTEGER (≈ 9.007e15), and
 * DynamoDB numbers carry them exactly. Arithmetic on money therefore never touches floats.
 */

/** Integer micro-credits. A branded number so a plain float cannot be passed by mistake. */
export type Micros = number & { readonly __brand: 'Micros' };

export const MICROS_PER_CREDIT = 1_000_000;
/** Largest amount accepted on the wire, in credits. */
export const MAX_CREDITS = 1_000_000_000;
export const MAX_MICROS = (MAX_CREDITS * MICROS_PER_CREDIT) as Micros;

export class MoneyError extends Error {
  override readonly name = 'MoneyError';
}

/** Asserts that `n` is an integer amount of micro-credits (may be negative: mint's balance). */
export function micros(n: number): Micros {
  if (!Number.isSafeInteger(n)) throw new MoneyError(`not an integer amount of micro-credits: ${n}`);
  return n as Micros;
}

/**
 * Parses a wire amount (a JSON number of credits) into micro-credits, exactly.
 *
 * The decimal text of the number is parsed rather than multiplied by 1e6, because
 * `0.000001 * 1e6` is fine but `1.005 * 1e6 = 1004999.9999999999` is not. JavaScript's
 * shortest round-trip formatting (`String(n)`) gives back the literal the client wrote for
 * every number with at most 15 significant digits, which covers the whole accepted range.
 */
export function parseCredits(value: unknown, opts: { allowNegative?: boolean; allowZero?: boolean } = {}): Micros {
  if (typeof value !== 'number') throw new MoneyError('amount must be a number');
  if (!Number.isFinite(value)) throw new MoneyError('amount must be finite');
  if (value < 0 && !opts.allowNegative) throw new MoneyError('amount must not be negative');
  if (value === 0 && opts.allowZero === false) throw new MoneyError('amount must be greater than 0');
  if (Math.abs(value) > MAX_CREDITS) throw new MoneyError(`amount must not exceed ${MAX_CREDITS} credits`);
  const text = Math.abs(value).toString();
  // Numbers below 1e-6 print in exponent form (1e-7); anything in exponent form that is not
  // an integer has more than 6 decimals or is too small to represent.
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new MoneyError('amount must have at most 6 decimal places');
  const [, whole = '0', frac = ''] = match;
  if (frac.length > 6) throw new MoneyError('amount must have at most 6 decimal places');
  const result = Number(whole) * MICROS_PER_CREDIT + Number(frac.padEnd(6, '0'));
  return micros(value < 0 ? -result : result);
}

/** Formats micro-credits as a wire number of credits (exact: at most 6 decimals). */
export function formatCredits(amount: Micros | number): number {
  const m = micros(amount);
  const sign = m < 0 ? '-' : '';
  const abs = Math.abs(m);
  const whole = Math.floor(abs / MICROS_PER_CREDIT);
  const frac = abs % MICROS_PER_CREDIT;
  return Number(`${sign}${whole}.${String(frac).padStart(6, '0')}`);
}

/** Checked addition: the result must stay a safe integer. */
export function addMicros(a: Micros, b: Micros): Micros {
  return micros(a + b);
}

export function subMicros(a: Micros, b: Micros): Micros {
  return micros(a - b);
}

export const ZERO = 0 as Micros;
