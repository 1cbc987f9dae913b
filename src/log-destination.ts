// Where pino's lines go: an fd (stdout by default), written in chunks of at
// least `minLength` characters, and at least every `flushIntervalMs` on a
// quiet server.
//
// It replaces pino.destination (sonic-boom), for two measured costs on the
// key server's request path (docs/PERFORMANCE.md):
// - sonic-boom measures the byte length of its whole pending buffer on every
//   write, about 2 µs per line; here a line is only appended to an array and
//   a chunk is joined and encoded once;
// - its asynchronous mode hands each chunk to libuv's thread pool, and the
//   thread's wake-up and context switches cost more than the write itself.
//   Chunks to a file or a terminal are written synchronously here, as pino's
//   default destination does, but gathered, so a busy server makes one write
//   per hundred lines. Chunks to a pipe or a socket (journald, a container's
//   log driver) are written asynchronously, one at a time: a reader that
//   stalls would otherwise stop the whole server at its next write.
//
// Output trouble never stops the server: a full non-blocking pipe (EAGAIN)
// is retried later, lines beyond `maxPending` characters are dropped and
// counted, and on any other write error the destination says so once on
// stderr and discards from then on.
import { fstatSync, write as fsWrite, writeSync } from 'node:fs';

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export interface LogDestinationOptions {
  /** Gather this many characters before writing (default 16384). */
  minLength?: number;
  /** Write whatever is gathered at least this often, in ms (default 250; 0 for never). */
  flushIntervalMs?: number;
  /** Drop lines once this many characters wait (default 16 Mi). */
  maxPending?: number;
  /** Delay before retrying a write that found the pipe full, in ms (default 10). */
  retryMs?: number;
  /** Where the one notice about a broken output goes (default: stderr). */
  onBroken?: (err: Error) => void;
  /** Write asynchronously (default: when `fd` is a pipe or a socket). */
  async?: boolean;
}

export interface LogDestination {
  /**
   * pino's stream interface: one complete line (with its newline), or
   * `lines` complete lines in one string (counted as that many if dropped).
   */
  write(text: string, lines?: number): boolean;
  /**
   * `gather` runs before every write of what is gathered (a full chunk, the
   * periodic flush, flush(), flushSync() at exit) and may write lines of its
   * own first: a caller that keeps lines back to format them in batches
   * hands them over there, so none waits longer than other lines do.
   */
  addGatherer(gather: () => void): void;
  /** Write what is gathered; `cb` runs once it is written (after retries if the pipe is full) or dropped. */
  flush(cb?: (err?: Error) => void): void;
  /**
   * Write everything gathered now, waiting up to about a second for a full
   * non-blocking pipe (for process exit). While an asynchronous write is
   * under way nothing is written: both could interleave on a pipe.
   */
  flushSync(): void;
  /** Lines dropped since the last write because output could not keep up. */
  readonly dropped: number;
  /** Stop the periodic flush (the destination still writes when asked to). */
  end(): void;
}

function reportBroken(err: Error): void {
  try {
    writeSync(2, `fedpeer: log output failed (${err.message}); further log lines are discarded\n`);
  } catch {
    // stderr is gone too; nothing is left to tell.
  }
}

function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export function createLogDestination(fd: number, options: LogDestinationOptions = {}): LogDestination {
  const async = options.async ?? isPipeOrSocket(fd);
  const minLength = options.minLength ?? 16384;
  const maxPending = options.maxPending ?? 16 * 1024 * 1024;
  const retryMs = options.retryMs ?? 10;
  const onBroken = options.onBroken ?? reportBroken;
  let parts: string[] = [];
  let pendingLength = 0;
  // Bytes a full pipe refused, written before anything gathered after them.
  let refused: Buffer | undefined;
  let retry: NodeJS.Timeout | undefined;
  let inFlight = false;
  let broken = false;
  let dropped = 0;
  let waiting: Array<(err?: Error) => void> = [];
  const gatherers: Array<() => void> = [];
  // A gatherer's own writes can fill a chunk and so call drain() again.
  let gathering = false;

  const settle = (err?: Error) => {
    if (!err && (refused || inFlight || pendingLength > 0)) return;
    const cbs = waiting;
    waiting = [];
    for (const cb of cbs) cb(err);
  };
  const take = (): Buffer => {
    let text = parts.join('');
    parts = [];
    pendingLength = 0;
    if (dropped > 0) {
      text += `{"level":40,"time":${Date.now()},"dropped":${dropped},"msg":"log lines dropped: the log output could not keep up"}\n`;
      dropped = 0;
    }
    const bytes = Buffer.from(text);
    return refused ? Buffer.concat([refused, bytes]) : bytes;
  };
  const fail = (err: Error) => {
    broken = true;
    inFlight = false;
    refused = undefined;
    parts = [];
    pendingLength = 0;
    if (retry) clearTimeout(retry);
    onBroken(err);
    settle(err);
  };
  const later = (chunk: Buffer) => {
    refused = chunk;
    retry ??= setTimeout(() => {
      retry = undefined;
      drain();
    }, retryMs);
  };
  const writeAsync = (chunk: Buffer) => {
    fsWrite(fd, chunk, 0, chunk.length, null, (err, written) => {
      if (broken) return;
      if (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return fail(err);
        inFlight = false;
        return later(chunk);
      }
      if (written < chunk.length) return writeAsync(chunk.subarray(written));
      inFlight = false;
      if (pendingLength >= minLength || waiting.length > 0) drain();
      settle();
    });
  };
  /** Writes all that is gathered; `fullPipeWaits` > 0 writes in place (exit), waiting for a full pipe instead of retrying later. */
  const drain = (fullPipeWaits = 0) => {
    if (!gathering && gatherers.length > 0) {
      gathering = true;
      try {
        for (const gather of gatherers) gather();
      } finally {
        gathering = false;
      }
    }
    if (broken || inFlight || (retry && fullPipeWaits === 0) || (!refused && pendingLength === 0 && dropped === 0)) return;
    let chunk = take();
    refused = undefined;
    if (async && fullPipeWaits === 0) {
      inFlight = true;
      writeAsync(chunk);
      return;
    }
    while (chunk.length > 0) {
      try {
        chunk = chunk.subarray(writeSync(fd, chunk));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return fail(err as Error);
        if (fullPipeWaits-- > 0) {
          Atomics.wait(SLEEPER, 0, 0, 1);
          continue;
        }
        later(chunk);
        return;
      }
    }
    settle();
  };
  const timer = options.flushIntervalMs === 0 ? undefined : setInterval(() => drain(), options.flushIntervalMs ?? 250);
  timer?.unref();

  return {
    write(text, lines = 1) {
      if (broken) return true;
      if ((refused?.length ?? 0) + pendingLength + text.length > maxPending) {
        dropped += lines;
        return false;
      }
      parts.push(text);
      pendingLength += text.length;
      if (pendingLength >= minLength && !gathering) drain();
      return true;
    },
    addGatherer(gather) {
      gatherers.push(gather);
    },
    flush(cb) {
      if (cb) waiting.push(cb);
      drain();
      settle();
    },
    flushSync() {
      drain(1000);
    },
    get dropped() {
      return dropped;
    },
    end() {
      if (timer) clearInterval(timer);
    },
  };
}
