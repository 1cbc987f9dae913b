// Timestamps from other servers are integers the sender chose: Date can only
// show those within +-8.64e15 ms of 1970 (RangeError beyond), while a valid
// canonical JSON integer goes up to 2^53 - 1. Every untrusted timestamp shown
// to a person goes through here.

const MAX_DATE_MS = 8.64e15;

/** ISO 8601 when Date can represent it, otherwise the number and why. */
export function formatTimestamp(ms: number): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return `${ms} (ms since 1970, beyond the dates a clock can show)`;
  return new Date(ms).toISOString();
}

/** ISO 8601, or null when Date cannot represent it. */
export function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : null;
}
