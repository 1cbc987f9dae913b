// Work that several callers wait for at once (one key fetch for many
// requests naming the same server) and that is cancelled when every one of
// them has gone: each caller may bring an AbortSignal; when it fires, that
// caller is answered with AbandonedError at once, and when no caller is left
// waiting the work's own signal fires, so its connections are closed rather
// than left working for nobody. A caller without a signal never leaves.
import { AbandonedError } from './fair-limiter.js';

export interface SharedWork<T> {
  /** Joins the work under `key`, starting it with `start` when none is running. */
  join(key: string, start: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Keys with work running, for tests and diagnostics. */
  readonly size: number;
}

interface Flight<T> {
  promise: Promise<T>;
  waiters: number;
  controller: AbortController;
}

export function createSharedWork<T>(): SharedWork<T> {
  const flights = new Map<string, Flight<T>>();
  return {
    join(key, start, signal) {
      if (signal?.aborted) return Promise.reject(new AbandonedError());
      let flight = flights.get(key);
      if (!flight) {
        const controller = new AbortController();
        const f: Flight<T> = { promise: undefined as unknown as Promise<T>, waiters: 0, controller };
        f.promise = Promise.resolve()
          .then(() => start(controller.signal))
          .finally(() => {
            if (flights.get(key) === f) flights.delete(key);
          });
        // Nobody may be left to observe a failure of abandoned work.
        f.promise.catch(() => undefined);
        flights.set(key, f);
        flight = f;
      }
      const f = flight;
      f.waiters++;
      if (!signal) return f.promise;
      return new Promise<T>((resolve, reject) => {
        let done = false;
        const leave = (): void => {
          if (done) return;
          done = true;
          if (--f.waiters === 0) {
            if (flights.get(key) === f) flights.delete(key);
            f.controller.abort(new AbandonedError('every requester went away'));
          }
          reject(new AbandonedError());
        };
        signal.addEventListener('abort', leave, { once: true });
        f.promise.then(
          (v) => {
            if (done) return;
            done = true;
            signal.removeEventListener('abort', leave);
            resolve(v);
          },
          (e: unknown) => {
            if (done) return;
            done = true;
            signal.removeEventListener('abort', leave);
            reject(e);
          },
        );
      });
    },
    get size() {
      return flights.size;
    },
  };
}
