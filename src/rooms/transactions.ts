// Received transactions (PUT /send/{txnId}): the spec's limits (50 PDUs,
// 100 EDUs), one transaction at a time per origin (as Synapse does), the
// answer kept so a retried transaction ID gets the same answer without being
// applied twice, and EDUs recorded (the most recent MAX_EDUS) for tests to read.
import { badJson } from '../matrix/errors.js';
import type { RoomContext } from './context.js';
import { transactionLimitError, type Inbound, type PduResult } from './inbound.js';
import { keyedLock } from './locks.js';
import type { ReceivedEdu } from './store.js';

export const MAX_EDUS_KEPT = 10_000;

export interface TransactionAnswer {
  pdus: Record<string, PduResult>;
}

export interface Transactions {
  receive(origin: string, txnId: string, body: unknown): Promise<TransactionAnswer>;
  /** EDUs received, oldest first (at most MAX_EDUS_KEPT), optionally only of one type. */
  edus(opts?: { type?: string; since?: number }): ReceivedEdu[];
}

export function createTransactions(ctx: RoomContext, inbound: Inbound): Transactions {
  const { data, logger } = ctx;
  const perOrigin = keyedLock();

  function recordEdus(origin: string, edus: readonly unknown[]): void {
    for (const edu of edus) {
      if (typeof edu !== 'object' || edu === null || Array.isArray(edu) || typeof (edu as { edu_type?: unknown }).edu_type !== 'string') {
        logger.info({ origin }, 'ignored an EDU without edu_type');
        continue;
      }
      const seq = data.store.next('edu');
      data.store.edus.put(seq, { seq, origin, edu: edu as Record<string, unknown>, receivedTs: ctx.now() });
      if (seq > MAX_EDUS_KEPT) data.store.edus.remove(seq - MAX_EDUS_KEPT);
      try {
        ctx.hooks.onEdu?.(origin, edu as Record<string, unknown>);
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'onEdu hook threw');
      }
    }
  }

  return {
    receive(origin, txnId, body) {
      const b = body as { pdus?: unknown; edus?: unknown } | null;
      if (typeof b !== 'object' || b === null || Array.isArray(b)) return Promise.reject(badJson('A transaction is a JSON object'));
      if (b.pdus !== undefined && !Array.isArray(b.pdus)) return Promise.reject(badJson('pdus: expected an array'));
      if (b.edus !== undefined && !Array.isArray(b.edus)) return Promise.reject(badJson('edus: expected an array'));
      const pdus = (b.pdus ?? []) as unknown[];
      const edus = (b.edus ?? []) as unknown[];
      const tooMany = transactionLimitError(pdus.length, edus.length);
      if (tooMany) {
        logger.info({ origin, txnId, pdus: pdus.length, edus: edus.length }, 'refused an oversized transaction');
        return Promise.reject(tooMany);
      }
      return perOrigin.run(origin, async () => {
        const seen = data.store.transactions.get([origin, txnId]);
        if (seen) return seen.response as TransactionAnswer;
        const results = await inbound.receivePdus(origin, pdus);
        recordEdus(origin, edus);
        const response: TransactionAnswer = { pdus: results };
        data.store.transactions.put([origin, txnId], { response, receivedTs: ctx.now() });
        await data.store.commit();
        return response;
      });
    },
    edus(opts = {}) {
      const all = data.store.edus.range(opts.since ?? 0, Number.MAX_SAFE_INTEGER).map((e) => e.value);
      return opts.type === undefined ? all : all.filter((e) => e.edu.edu_type === opts.type);
    },
  };
}
