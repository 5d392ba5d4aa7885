/**
 * Bundle checks that need the economy (quantities within capacity, duration bounds): the
 * `invalid_bundle` problem, raised before anything is written.
 */
import { DomainError } from '../core/errors.ts';
import type { EconomyConfig } from '../core/market-config.ts';
import { type Bundle, RESOURCES, validateBundle } from '../core/resources.ts';

export function checkedBundle(
  bundle: Record<string, number | undefined>,
  duration: number,
  economy: EconomyConfig,
): Bundle {
  const errors = validateBundle(bundle, duration, economy);
  if (errors.length) {
    throw new DomainError('invalid_bundle', 400, 'The bundle or its duration is not valid.', {}, errors);
  }
  const clean: Bundle = {};
  for (const r of RESOURCES) {
    const q = bundle[r];
    if (q !== undefined) clean[r] = q;
  }
  return clean;
}
