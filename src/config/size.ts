// Synapse's `parse_size` (synapse/config/_base.py): a YAML integer is bytes;
// a string is digits with an optional binary suffix (K = 1024). Synapse only
// knows upper-case suffixes; lower case is accepted here too because "64k"
// has no other plausible meaning.
import { ConfigError, describeValue } from './errors.js';

export const SIZE_UNITS: Readonly<Record<string, number>> = {
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

const SIZE_RE = /^(\d+)([KMGT])?$/i;

/**
 * Bytes in `value` ("64K", "10M", 65536, "65536").
 * Throws ConfigError naming `key` when the value is not a size.
 */
export function parseSize(value: unknown, key = 'size'): number {
  const fail = (): never => {
    throw new ConfigError(
      key,
      `expected a size such as "64K", "10M" or a number of bytes, got ${describeValue(value)}`,
    );
  };
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = SIZE_RE.exec(value.trim());
    if (!m) return fail();
    bytes = Number(m[1]) * (m[2] ? SIZE_UNITS[m[2].toUpperCase()]! : 1);
  } else {
    return fail();
  }
  if (!Number.isSafeInteger(bytes) || bytes < 0) return fail();
  return bytes;
}
