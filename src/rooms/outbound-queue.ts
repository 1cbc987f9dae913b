// The outbound transaction queue: events and EDUs for other servers wait in
// the room store, one queue per destination, and go out as
// `PUT /_matrix/federation/v1/send/{txnId}` with at most one transaction in
// flight per destination, up to 50 PDUs and 100 EDUs each. A failed
// transaction is retried after an exponential backoff; what is queued survives
// a restart because it is in the store, and leaves it only once the
// destination has accepted the transaction.
import type { Logger } from 'pino';
import type { RoomStore, QueueItem } from './store.js';
import type { Pdu } from '../matrix/events/types.js';

export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;
const MAX_KEY = Number.MAX_SAFE_INTEGER;

export interface TransactionBody {
  origin: string;
  origin_server_ts: number;
  pdus: Pdu[];
  edus: Array<Record<string, unknown>>;
}

/** Sends one transaction; resolves when the destination answered 200, throws otherwise. */
export type TransactionSender = (destination: string, txnId: string, body: TransactionBody) => Promise<unknown>;

export interface OutboundQueueOptions {
  store: RoomStore;
  origin: string;
  send: TransactionSender;
  logger: Logger;
  now?: () => number;
  /** First retry delay; doubles per failure up to maxRetryMs. */
  initialRetryMs?: number;
  maxRetryMs?: number;
}

export interface DestinationStatus {
  destination: string;
  queued: number;
  inFlight: boolean;
  failures: number;
  /** When the next attempt is due (epoch ms), while backing off. */
  retryAt?: number;
  lastError?: string;
}

export interface OutboundQueue {
  /** Queues an event for each destination (in the store's write set: commit, then `wake`). */
  queuePdu(destinations: Iterable<string>, eventId: string): void;
  queueEdu(destination: string, edu: Record<string, unknown>): void;
  /** Starts sending to each destination with something queued and nothing in flight. */
  wake(destinations?: Iterable<string>): void;
  status(destination: string): DestinationStatus;
  /** Resolves when no destination has anything queued or in flight (or `timeoutMs` passed: false). */
  drained(timeoutMs: number): Promise<boolean>;
  /** Retries a backing-off destination (or every one) now: it was heard from, or an operator asked. */
  retryNow(destination?: string): void;
  close(): Promise<void>;
}

interface Destination {
  name: string;
  inFlight: Promise<void> | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  retryAt: number | undefined;
  lastError: string | undefined;
}

export function createOutboundQueue(opts: OutboundQueueOptions): OutboundQueue {
  const { store, logger } = opts;
  const now = opts.now ?? Date.now;
  const initialRetryMs = opts.initialRetryMs ?? 2_000;
  const maxRetryMs = opts.maxRetryMs ?? 3_600_000;
  const destinations = new Map<string, Destination>();
  const drainWaiters = new Set<() => void>();
  let closed = false;
  // Transaction IDs stay unique across restarts and across a wiped store: the store's birth time and the first item's sequence.
  let epoch = store.meta.get('queue_epoch');
  if (epoch === undefined) {
    epoch = now();
    store.meta.put('queue_epoch', epoch);
  }
  let txnCounter = 0;

  const entry = (name: string): Destination => {
    let d = destinations.get(name);
    if (!d) {
      d = { name, inFlight: undefined, failures: 0, timer: undefined, retryAt: undefined, lastError: undefined };
      destinations.set(name, d);
    }
    return d;
  };
  const items = (name: string, limit?: number) => store.queue.range([name, 0], [name, MAX_KEY], limit === undefined ? {} : { limit });

  function isIdle(): boolean {
    for (const d of destinations.values()) if (d.inFlight || d.timer || items(d.name, 1).length > 0) return false;
    return true;
  }
  function checkDrained(): void {
    if (drainWaiters.size === 0 || !isIdle()) return;
    for (const w of drainWaiters) w();
    drainWaiters.clear();
  }

  async function sendBatch(d: Destination): Promise<boolean> {
    const queued = items(d.name, 1000);
    if (queued.length === 0) return false;
    const pdus: Pdu[] = [];
    const edus: Array<Record<string, unknown>> = [];
    const taken: Array<[string, number]> = [];
    for (const { key, value } of queued) {
      const item: QueueItem = value;
      if (item.kind === 'pdu') {
        if (pdus.length >= MAX_PDUS_PER_TRANSACTION) continue;
        const event = store.events.get(item.eventId);
        if (event) pdus.push(event.pdu);
      } else {
        if (edus.length >= MAX_EDUS_PER_TRANSACTION) continue;
        edus.push(item.edu);
      }
      taken.push(key);
      if (pdus.length >= MAX_PDUS_PER_TRANSACTION && edus.length >= MAX_EDUS_PER_TRANSACTION) break;
    }
    const txnId = `${epoch}.${taken[0]![1]}.${++txnCounter}`;
    await opts.send(d.name, txnId, { origin: opts.origin, origin_server_ts: now(), pdus, edus });
    for (const key of taken) store.queue.remove(key);
    await store.commit();
    return true;
  }

  function run(d: Destination): void {
    if (closed || d.inFlight || d.timer) return;
    d.inFlight = (async () => {
      try {
        while (!closed && (await sendBatch(d))) {
          d.failures = 0;
          d.lastError = undefined;
        }
      } catch (e) {
        d.failures++;
        d.lastError = (e as Error).message;
        const delay = Math.min(maxRetryMs, initialRetryMs * 2 ** Math.min(d.failures - 1, 30));
        d.retryAt = now() + delay;
        logger.warn({ destination: d.name, failures: d.failures, retryInMs: delay, err: d.lastError }, 'outbound transaction failed; will retry');
        if (!closed) {
          d.timer = setTimeout(() => {
            d.timer = undefined;
            d.retryAt = undefined;
            run(d);
          }, delay);
          d.timer.unref();
        }
      } finally {
        d.inFlight = undefined;
        checkDrained();
      }
    })();
  }

  // What a previous run left queued goes out now.
  const left = new Set<string>();
  for (const { key } of store.queue.range(['', 0], ['\u{10FFFF}', 0])) left.add(key[0]);

  const queue: OutboundQueue = {
    queuePdu(names, eventId) {
      for (const name of names) {
        entry(name);
        store.queue.put([name, store.next('queue')], { kind: 'pdu', eventId });
      }
    },
    queueEdu(name, edu) {
      entry(name);
      store.queue.put([name, store.next('queue')], { kind: 'edu', edu });
    },
    wake(names) {
      for (const name of names ?? [...destinations.keys()]) run(entry(name));
    },
    status(name) {
      const d = destinations.get(name);
      return {
        destination: name,
        queued: items(name).length,
        inFlight: d?.inFlight !== undefined,
        failures: d?.failures ?? 0,
        ...(d?.retryAt !== undefined ? { retryAt: d.retryAt } : {}),
        ...(d?.lastError !== undefined ? { lastError: d.lastError } : {}),
      };
    },
    drained(timeoutMs) {
      if (isIdle()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          drainWaiters.delete(done);
          resolve(false);
        }, timeoutMs);
        drainWaiters.add(done);
      });
    },
    retryNow(name) {
      for (const d of destinations.values()) {
        if (!d.timer || (name !== undefined && d.name !== name)) continue;
        clearTimeout(d.timer);
        d.timer = undefined;
        d.retryAt = undefined;
        run(d);
      }
    },
    async close() {
      closed = true;
      for (const d of destinations.values()) if (d.timer) clearTimeout(d.timer);
      await Promise.all([...destinations.values()].map((d) => d.inFlight));
    },
  };
  queue.wake(left);
  return queue;
}
