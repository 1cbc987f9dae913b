// Reading one response: is it a Matrix error, a refusal, the resource? Pure;
// the checks build their verdicts from these readings.
import type { Exchange, ReceivedResponse, Verdict } from './types.js';

export function isMatrixError(response: ReceivedResponse): response is { status: number; errcode: string; error?: string; body?: string } {
  return 'status' in response && typeof response.errcode === 'string';
}

/** "404 M_NOT_FOUND", "200", or the transport failure. */
export function describe(response: ReceivedResponse): string {
  if ('failure' in response) return `no answer (${response.failure})`;
  if (response.errcode !== undefined) return `${response.status} ${response.errcode}`;
  return `${response.status}${response.status >= 400 ? ' without a Matrix error body' : ''}`;
}

/** A request that must be refused: the spec's status with a Matrix error body. */
export function judgeRefusal(response: ReceivedResponse, allowed: readonly number[] = [401]): { verdict: Verdict; finding: string } {
  const want = allowed.join(' or ');
  if ('failure' in response) return { verdict: 'could_not_run', finding: `${describe(response)}: cannot tell whether it was refused` };
  if (allowed.includes(response.status)) {
    if (isMatrixError(response)) return { verdict: 'pass', finding: `refused: ${describe(response)}` };
    return { verdict: 'fail', finding: `refused with ${response.status} but the body is not a Matrix error ({errcode, error})` };
  }
  if (response.status >= 200 && response.status < 300) return { verdict: 'fail', finding: `answered ${response.status}: gave the resource instead of refusing with ${want}` };
  if (response.status >= 500) return { verdict: 'fail', finding: `server error ${describe(response)} instead of ${want}` };
  return { verdict: 'fail', finding: `answered ${describe(response)} instead of ${want}: the request was processed, not refused` };
}

/** How a correctly signed request fared on one endpoint. */
export type Acceptance = 'accepted' | 'refused' | 'forbidden' | 'not_served' | 'server_error' | 'no_answer';

export function judgeAcceptance(response: ReceivedResponse): { acceptance: Acceptance; finding: string } {
  if ('failure' in response) return { acceptance: 'no_answer', finding: describe(response) };
  const what = describe(response);
  if (response.status === 401) return { acceptance: 'refused', finding: `refused: ${what}${response.error ? ` (${response.error})` : ''}` };
  if (response.status === 403) return { acceptance: 'forbidden', finding: `forbidden: ${what}${response.error ? ` (${response.error})` : ''}` };
  if ((response.status === 404 || response.status === 405) && response.errcode === 'M_UNRECOGNIZED') return { acceptance: 'not_served', finding: `${what}: the endpoint is not served` };
  if (response.status >= 500) return { acceptance: 'server_error', finding: `server error ${what}` };
  return { acceptance: 'accepted', finding: `accepted: ${what}` };
}

/**
 * One verdict from several: any fail fails; then any could_not_run; then a
 * pass if something passed; with nothing judged, `empty`.
 */
export function combine(verdicts: readonly Verdict[], empty: Verdict = 'could_not_run'): Verdict {
  if (verdicts.includes('fail')) return 'fail';
  if (verdicts.includes('could_not_run')) return 'could_not_run';
  if (verdicts.includes('pass')) return 'pass';
  return verdicts.length > 0 ? 'not_applicable' : empty;
}

/** "2 of 3 endpoints: ..." style summary of the exchanges that decided a verdict. */
export function findingsLine(exchanges: readonly Exchange[], pick: (e: Exchange) => boolean): string {
  return exchanges
    .filter(pick)
    .map((e) => `${e.label}: ${e.finding}`)
    .join('; ');
}
