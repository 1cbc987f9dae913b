// One change at a time per room: a room's state, extremities and timeline are
// read and written between awaits (fetching missing events, keys), so work on
// one room is queued behind the previous one. Rooms do not wait for each other.
export interface KeyedLock {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Keys with work queued or running. */
  readonly busy: number;
}

export function keyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, work) {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(work, work);
      const tail = result.catch(() => undefined);
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    get busy() {
      return tails.size;
    },
  };
}
