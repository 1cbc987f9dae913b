// Bearer-token check of every control API request. Both the expected and the
// given token are hashed to 32 bytes before a constant-time compare, so the
// answer takes the same time whatever the given token's length or how much of
// it is right.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { MatrixError } from '../matrix/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export function bearerAuth(token: string): (request: FastifyRequest) => Promise<void> {
  const expected = digest(token);
  return async (request) => {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!m) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing control token: send "Authorization: Bearer <token>" (control_token in the config, or the file control.token under data_dir)');
    if (!timingSafeEqual(digest(m[1]!), expected)) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown control token');
  };
}
