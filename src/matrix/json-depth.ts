// The nesting limit of JSON fedpeer parses, inbound (request bodies) and
// outbound (other servers' answers) alike: a nesting bomb would otherwise
// overflow the stack later, when the value is canonicalised, signed or
// serialised again.

export const MAX_DEPTH = 256;

/** Nesting depth of a JSON text, strings skipped; stops counting past `limit`. */
export function jsonDepth(text: string, limit = MAX_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
