// Per-client-address token buckets for the routes that make outbound
// requests on a caller's behalf (notary, check page). Over the limit a client
// gets 429 M_LIMIT_EXCEEDED with retry_after_ms. Buckets of idle clients are
// dropped so a spray of addresses cannot grow memory without bound.
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { limitExceeded } from '../matrix/errors.js';

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  now?: () => number;
  /** Most buckets kept; the least recently used go first. */
  maxClients?: number;
}

export interface RateLimiter {
  /** 0 when allowed (a token is taken), otherwise the milliseconds until one is free. */
  take(client: string): number;
  readonly size: number;
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  const now = opts.now ?? Date.now;
  const max = opts.maxClients ?? 10_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(client) {
      const t = now();
      const b = buckets.get(client) ?? { tokens: opts.burst, at: t };
      b.tokens = Math.min(opts.burst, b.tokens + ((t - b.at) / 1000) * opts.perSecond);
      b.at = t;
      buckets.delete(client);
      buckets.set(client, b);
      if (buckets.size > max) buckets.delete(buckets.keys().next().value!);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - b.tokens) / opts.perSecond) * 1000);
    },
    get size() {
      return buckets.size;
    },
  };
}

/** A preHandler that charges one token per request to the client's address (request.ip honours x_forwarded). */
export function rateLimitHook(limiter: RateLimiter): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest) => {
    const wait = limiter.take(request.ip);
    if (wait > 0) throw limitExceeded(wait);
  };
}
