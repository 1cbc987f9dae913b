// Matrix identifiers as events carry them: a sigil, an opaque part, `:`, and
// the server name (everything after the first colon, so a port stays with
// it). Only the server name is checked against the grammar: it decides whose
// signature an event needs; historical localparts hold characters today's
// grammar forbids, and Synapse accepts them.
import { isValidServerName } from '../server-name.js';

/** The server name of `@user:server`, `!room:server` or `$event:server`; undefined without a colon. */
export function domainOf(id: string): string | undefined {
  const colon = id.indexOf(':');
  return colon < 0 ? undefined : id.slice(colon + 1);
}

/** Why `id` is not a `<sigil>opaque:server_name` identifier, or undefined when it is one. */
export function idProblem(id: string, sigil: '@' | '!' | '$'): string | undefined {
  if (!id.startsWith(sigil)) return `does not start with "${sigil}"`;
  const domain = domainOf(id);
  if (domain === undefined) return 'has no ":server_name" part';
  if (!isValidServerName(domain)) return `has an invalid server name ${JSON.stringify(domain)}`;
  return undefined;
}

/** Length in Unicode code points (what Synapse once measured the 255 limits in). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** v3 event IDs: `$` and the 43 characters of a SHA-256 in standard unpadded base64; v4 and later: URL-safe. */
export const HASH_EVENT_ID_V3 = /^\$[A-Za-z0-9+/]{43}$/;
export const HASH_EVENT_ID_V4 = /^\$[A-Za-z0-9_-]{43}$/;
