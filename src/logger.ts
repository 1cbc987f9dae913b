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
  const bindings = `,"pid":${process.pid}`;
  const info = logger.levels.values.info!;
  const accessLog: AccessLog = (reqId, method, route, status, ms) => {
    if (logger.levelVal > info) return;
    destination.write(
      `{"level":${info},"time":${Date.now()}${bindings},"reqId":${JSON.stringify(reqId)},"method":${JSON.stringify(method)},"route":${route === null ? 'null' : JSON.stringify(route)},"status":${status},"ms":${ms},"msg":"request"}\n`,
    );
  };
  return { logger, accessLog };
}
