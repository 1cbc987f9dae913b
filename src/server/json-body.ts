// Request bodies are parsed here for every content type: Synapse reads
// federation bodies as JSON whatever Content-Type says. What is not JSON —
// invalid UTF-8 (which a lenient decoder would turn into U+FFFD and accept),
// nesting deeper than MAX_DEPTH (a nesting bomb would later overflow the
// stack of canonical JSON when a signature is checked), or a syntax error —
// is 400 M_NOT_JSON. Duplicate keys keep the last value, as Python's json
// (and so Synapse) does.
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { notJson } from '../matrix/errors.js';

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

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  if (!isUtf8(body)) throw notJson('Content not JSON: invalid UTF-8');
  const text = body.toString('utf8');
  if (jsonDepth(text) > MAX_DEPTH) throw notJson(`Content not JSON: nested deeper than ${MAX_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw notJson(`Content not JSON: ${(e as Error).message}`);
  }
}

export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}
