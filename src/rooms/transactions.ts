// Received transactions (PUT /send/{txnId}): the spec's limits (50 PDUs,
// 100 EDUs), one transaction at a time per origin (as Synapse does; the spec
// allows one in flight, so at most a few wait, beyond that 429), the answer
// kept so a retried transaction ID gets the same answer without being
// applied twice, and EDUs recorded for tests to read. What is kept is
// bounded per origin, over all and (transaction IDs) in age: limits.ts.
import { MatrixError, badJson } from '../matrix/errors.js';
import { AbandonedError, createFairLimiter, QueueFullError } from '../federation/fair-limiter.js';
import { abandoned } from './admission.js';
import { boundedLog } from './bounded-log.js';
import type { RoomContext } from './context.js';
import { AbandonedTransactionError, transactionLimitError, type Inbound, type PduResult } from './inbound.js';
import type { ReceivedEdu } from './store.js';

export interface TransactionAnswer {
  pdus: Record<string, PduResult>;
}

export interface Transactions {
  /** `signal` fires when the sender goes away: the transaction's fetches stop and nothing of it is kept. */
  receive(origin: string, txnId: string, body: unknown, signal?: AbortSignal): Promise<TransactionAnswer>;
  /** EDUs received, oldest first, optionally only of one type. */
  edus(opts?: { type?: string; since?: number }): ReceivedEdu[];
}

export function createTransactions(ctx: RoomContext, inbound: Inbound): Transactions {
  const { data, logger, limits } = ctx;
  const { store } = data;
  // One at a time per origin; origins share `requestsTotal` slots fairly.
  const lanes = createFairLimiter({ total: limits.requestsTotal, perKey: 1, maxQueuedPerKey: limits.transactionsWaitingPerOrigin });
  const seenIds = boundedLog(store, 'transactions', {
    perGroup: limits.transactionsPerOrigin,
    total: limits.transactionsKept,
    ttlMs: limits.transactionTtlMs,
    drop: (origin, txnId) => store.transactions.remove([origin, txnId]),
  });
  const recorded = boundedLog(store, 'edus', { perGroup: limits.edusPerOrigin, total: limits.edusKept, drop: (_origin, seq) => store.edus.remove(Number(seq)) });
  // A store from before these logs: its entries cannot be ordered, and are only worth their bound, so they go.
  if (!seenIds.started) for (const { key } of store.transactions.range(['', ''], ['\u{10FFFF}', ''])) store.transactions.remove(key);
  if (!recorded.started) for (const { key } of store.edus.range(0, Number.MAX_SAFE_INTEGER)) store.edus.remove(key);

  function recordEdus(origin: string, edus: readonly unknown[]): void {
    for (const edu of edus) {
      if (typeof edu !== 'object' || edu === null || Array.isArray(edu) || typeof (edu as { edu_type?: unknown }).edu_type !== 'string') {
        logger.info({ origin }, 'ignored an EDU without edu_type');
        continue;
      }
      // As received (JSON text), whatever numbers it holds.
      const bytes = Buffer.byteLength(JSON.stringify(edu));
      if (bytes > limits.eduBytes) {
        logger.info({ origin, eduType: (edu as { edu_type: string }).edu_type, bytes }, 'ignored an oversized EDU');
        continue;
      }
      const seq = store.next('edu');
      store.edus.put(seq, { seq, origin, edu: edu as Record<string, unknown>, receivedTs: ctx.now() });
      recorded.add(origin, String(seq), ctx.now());
      try {
        ctx.hooks.onEdu?.(origin, edu as Record<string, unknown>);
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'onEdu hook threw');
      }
    }
  }

  return {
    async receive(origin, txnId, body, signal) {
      const b = body as { pdus?: unknown; edus?: unknown } | null;
      if (typeof b !== 'object' || b === null || Array.isArray(b)) throw badJson('A transaction is a JSON object');
      if (b.pdus !== undefined && !Array.isArray(b.pdus)) throw badJson('pdus: expected an array');
      if (b.edus !== undefined && !Array.isArray(b.edus)) throw badJson('edus: expected an array');
      const pdus = (b.pdus ?? []) as unknown[];
      const edus = (b.edus ?? []) as unknown[];
      const tooMany = transactionLimitError(pdus.length, edus.length);
      if (tooMany) {
        logger.info({ origin, txnId, pdus: pdus.length, edus: edus.length }, 'refused an oversized transaction');
        throw tooMany;
      }
      const work = async (): Promise<TransactionAnswer> => {
        const seen = store.transactions.get([origin, txnId]);
        if (seen) return seen.response as TransactionAnswer;
        const results = await inbound.receivePdus(origin, pdus, signal);
        recordEdus(origin, edus);
        const response: TransactionAnswer = { pdus: results };
        store.transactions.put([origin, txnId], { response, receivedTs: ctx.now() });
        seenIds.add(origin, txnId, ctx.now());
        seenIds.prune(ctx.now());
        await store.commit();
        return response;
      };
      try {
        return await lanes.run(origin, work, signal);
      } catch (e) {
        if (e instanceof QueueFullError) {
          logger.info({ origin, txnId }, 'refused a transaction: too many of this origin waiting');
          throw new MatrixError(429, 'M_LIMIT_EXCEEDED', `${limits.transactionsWaitingPerOrigin} transactions of ${origin} are waiting already; send one at a time`, { retry_after_ms: 1000 });
        }
        if (e instanceof AbandonedError || e instanceof AbandonedTransactionError) throw abandoned();
        throw e;
      }
    },
    edus(opts = {}) {
      const all = store.edus.range(opts.since ?? 0, Number.MAX_SAFE_INTEGER).map((e) => e.value);
      return opts.type === undefined ? all : all.filter((e) => e.edu.edu_type === opts.type);
    },
  };
}
