// The process's logger: pino writing JSON lines to a LogDestination, plus
// the per-request access line the servers write on the hot path.
import { pino, type Logger } from 'pino';
import { createLogDestination, type LogDestination } from './log-destination.js';

/** One line per answered request: request id, method, route, status, duration. */
export type AccessLog = (reqId: string, method: string, route: string | null, status: number, ms: number) => void;

export interface FedpeerLogger {
  logger: Logger;
  accessLog: AccessLog;
}

/**
 * What pino writes to: a LogDestination, or anything taking whole lines
 * (tests capture them). Access lines are kept back and formatted in batches
 * only for a sink that can gather (a LogDestination); any other gets each
 * line as it happens.
 */
export type LineSink = Pick<LogDestination, 'write'> & Partial<Pick<LogDestination, 'flush' | 'addGatherer'>>;

/** Access lines kept back before they are formatted together. */
const ACCESS_BATCH = 128;

/**
 * Stdout, gathered; what is still gathered when the process exits (including
 * after an uncaught exception, whose report comes last) is written then.
 */
function stdoutDestination(): LogDestination {
  const destination = createLogDestination(1);
  process.once('exit', () => destination.flushSync());
  return destination;
}

/** The access line through pino's general path, for loggers made elsewhere. */
export function pinoAccessLog(log: Logger): AccessLog {
  return (reqId, method, route, status, ms) => log.info({ reqId, method, route, status, ms }, 'request');
}

/**
 * A logger at `level` writing to `destination` (stdout by default). Its
 * access lines are byte-for-byte what `log.info({ reqId, method, route,
 * status, ms }, 'request')` would write, but formatted here and handed
 * straight to the destination: pino's general serialiser (walking the
 * object, escaping every value) was the larger part of the key server's
 * per-request cost (docs/PERFORMANCE.md). The logger's options are fixed
 * here so that the two stay the same format; a test holds them to it.
 *
 * A request only records its fields; they are formatted ACCESS_BATCH at a
 * time, which cost the key server less than a line per request did
 * (docs/PERFORMANCE.md). A batch is written when it is full, before any
 * other line (so the order stays that of the calls), and whenever the
 * destination writes what it has gathered (its periodic flush, flush(),
 * process exit), so no line waits longer than it would have.
 */
export function createLogger(level: string, destination: LineSink = stdoutDestination()): FedpeerLogger {
  // pino's own lines go after the access lines recorded before them.
  const sink: LineSink = {
    write(line) {
      writeRecorded();
      return destination.write(line);
    },
    ...(destination.flush ? { flush: (cb?: (err?: Error) => void) => destination.flush!(cb) } : {}),
  };

  const logger = pino({ level, base: { pid: process.pid } }, sink);
  const info = logger.levels.values.info!;
  // The parts that repeat are kept formatted: the time changes once a
  // millisecond, methods and routes come from a small set, and durations are
  // written from whole hundredths (V8's general number-to-text conversion was
  // the largest single cost of the line, docs/PERFORMANCE.md).
  const head = `{"level":${info},"time":`;
  const bindings = `,"pid":${process.pid},"reqId":`;
  let lastTime = 0;
  let timePart = '';
  const quoted = new Map<string, string>();
  const quote = (s: string): string => {
    let q = quoted.get(s);
    if (q === undefined) {
      q = JSON.stringify(s);
      if (quoted.size < 1024) quoted.set(s, q);
    }
    return q;
  };
  const batchSize = destination.addGatherer ? ACCESS_BATCH : 1;
  const reqIds: string[] = new Array<string>(batchSize).fill('');
  const methods: string[] = new Array<string>(batchSize).fill('');
  const routes: Array<string | null> = new Array<string | null>(batchSize).fill(null);
  const statuses = new Float64Array(batchSize);
  const durations = new Float64Array(batchSize);
  const times = new Float64Array(batchSize);
  let recorded = 0;

  const writeRecorded = () => {
    if (recorded === 0) return;
    const n = recorded;
    recorded = 0;
    let text = '';
    for (let i = 0; i < n; i++) {
      const now = times[i]!;
      if (now !== lastTime) {
        lastTime = now;
        timePart = `${head}${now}${bindings}`;
      }
      const reqId = reqIds[i]!;
      const route = routes[i]!;
      text += `${timePart}${plainString(reqId) ? `"${reqId}"` : JSON.stringify(reqId)},"method":${quote(methods[i]!)},"route":${route === null ? 'null' : quote(route)},"status":${statuses[i]},"ms":${formatMs(durations[i]!)},"msg":"request"}\n`;
    }
    destination.write(text, n);
  };
  destination.addGatherer?.(writeRecorded);
  const accessLog: AccessLog = (reqId, method, route, status, ms) => {
    if (logger.levelVal > info) return;
    const i = recorded++;
    reqIds[i] = reqId;
    methods[i] = method;
    routes[i] = route;
    statuses[i] = status;
    durations[i] = ms;
    times[i] = Date.now();
    if (recorded === batchSize) writeRecorded();
  };
  return { logger, accessLog };
}

/** Whether JSON writes `s` between quotes as it is (no escapes needed). */
function plainString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** `ms` as JSON writes it, from whole hundredths when it has no more decimals than that. */
export function formatMs(ms: number): string {
  const hundredths = Math.round(ms * 100);
  if (!(hundredths >= 0 && hundredths < 0x7fffffff) || hundredths / 100 !== ms) return JSON.stringify(ms);
  const whole = Math.floor(hundredths / 100);
  const fraction = hundredths - whole * 100;
  if (fraction === 0) return `${whole}`;
  if (fraction % 10 === 0) return `${whole}.${fraction / 10}`;
  return `${whole}.${fraction < 10 ? '0' : ''}${fraction}`;
}
