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

/** What pino writes to: a LogDestination, or anything taking whole lines (tests capture them). */
export type LineSink = Pick<LogDestination, 'write'> & Partial<Pick<LogDestination, 'flush'>>;

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
 */
export function createLogger(level: string, destination: LineSink = stdoutDestination()): FedpeerLogger {
  const logger = pino({ level, base: { pid: process.pid } }, destination);
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
  const accessLog: AccessLog = (reqId, method, route, status, ms) => {
    if (logger.levelVal > info) return;
    const now = Date.now();
    if (now !== lastTime) {
      lastTime = now;
      timePart = `${head}${now}${bindings}`;
    }
    destination.write(
      `${timePart}${plainString(reqId) ? `"${reqId}"` : JSON.stringify(reqId)},"method":${quote(method)},"route":${route === null ? 'null' : quote(route)},"status":${status},"ms":${formatMs(ms)},"msg":"request"}\n`,
    );
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
