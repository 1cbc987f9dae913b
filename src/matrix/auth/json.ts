// Reading untrusted event content. Content comes from remote servers, so a
// key such as "constructor" or "__proto__" must never reach Object.prototype:
// every read goes through `own`.
import type { JsonObject, JsonValue } from '../canonical-json.js';

export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function own(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

export function ownString(obj: JsonObject, key: string): string | undefined {
  const v = own(obj, key);
  return typeof v === 'string' ? v : undefined;
}

/** The domain of a user, room or (room versions 1 and 2) event ID: everything after the first colon, as Synapse's get_domain_from_id. */
export function domainOf(id: string): string {
  const i = id.indexOf(':');
  return i < 0 ? '' : id.slice(i + 1);
}

/** The shape check Synapse applies to user IDs in power levels: the `@` sigil and a colon. */
export function looksLikeUserId(value: string): boolean {
  return value.startsWith('@') && value.indexOf(':') > 0;
}
