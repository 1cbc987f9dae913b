// A configuration problem, named by the key path a user can search for in
// their homeserver.yaml (`listeners[1].port`, `acme.domains[0]`). An empty
// key means the problem is with the file as a whole.
export class ConfigError extends Error {
  readonly key: string;
  readonly detail: string;

  constructor(key: string, detail: string, options?: { cause?: unknown }) {
    super(key ? `${key}: ${detail}` : detail, options);
    this.name = 'ConfigError';
    this.key = key;
    this.detail = detail;
  }
}

/** Describes a bad value for an error message, short enough for one line. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return `a date (${value.toISOString().slice(0, 10)})`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}
