// Synapse's `parse_duration` (synapse/config/_base.py): a YAML integer is
// milliseconds; a string is digits with an optional unit suffix, where no
// suffix also means milliseconds. Synapse rejects floats, and so do we, so
// that a file means the same thing to both programs.
import { ConfigError, describeValue } from './errors.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DURATION_UNITS: Readonly<Record<string, number>> = {
  s: SECOND,
  m: MINUTE,
  h: HOUR,
  d: DAY,
  w: 7 * DAY,
  y: 365 * DAY,
};

const DURATION_RE = /^(\d+)([smhdwy])?$/;

/**
 * Milliseconds in `value` ("1d", "30s", 5000, "5000").
 * Throws ConfigError naming `key` when the value is not a duration.
 */
export function parseDuration(value: unknown, key = 'duration'): number {
  const fail = (): never => {
    throw new ConfigError(
      key,
      `expected a duration such as "1d" or a number of milliseconds, got ${describeValue(value)}`,
    );
  };
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const m = DURATION_RE.exec(value.trim());
    if (!m) return fail();
    ms = Number(m[1]) * (m[2] ? DURATION_UNITS[m[2]]! : 1);
  } else {
    return fail();
  }
  if (!Number.isSafeInteger(ms) || ms < 0) return fail();
  return ms;
}
