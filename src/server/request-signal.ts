// The lifetime of work done for one inbound request: an AbortSignal that
// fires when the client goes away before its answer is written, or when the
// answer bound passes. Routes that wait on outbound work (the notary's key
// fetches, X-Matrix key lookups) hand it down, so an abandoned request
// stops holding outbound capacity, and a slow destination delays an answer
// by at most the bound.
import type { FastifyReply } from 'fastify';

export class AnswerDeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'AnswerDeadlineError';
  }
}

export interface RequestLifetime {
  signal: AbortSignal;
  /** True when the bound passed (rather than the client leaving). */
  readonly timedOut: boolean;
  /** Stops watching (the answer is being sent). */
  done(): void;
}

export function requestLifetime(reply: FastifyReply, answerWithinMs: number): RequestLifetime {
  const controller = new AbortController();
  let timedOut = false;
  const res = reply.raw;
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new AnswerDeadlineError(answerWithinMs));
  }, answerWithinMs);
  timer.unref();
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    done() {
      clearTimeout(timer);
      res.off('close', onClose);
    },
  };
}
