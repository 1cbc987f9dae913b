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
import { jsonDepth, MAX_DEPTH } from '../matrix/json-depth.js';

export { jsonDepth, MAX_DEPTH };

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
