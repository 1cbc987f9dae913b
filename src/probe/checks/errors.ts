// Errors: unknown endpoints, wrong methods, bad JSON and oversized bodies get
// the spec's status codes with a Matrix error body.
import type { CheckDefinition, ProbeContext } from '../context.js';
import { SPEC_REFS } from '../context.js';
import { combine, describe, isMatrixError } from '../judge.js';
import type { ProbeRequest, SendResult } from '../sender.js';
import type { Exchange, Outcome, Verdict } from '../types.js';
import { exchange } from './shared.js';

/** The probe's oversized body; larger than fedpeer's and most proxies' default limits. */
export const OVERSIZED_BODY_BYTES = 1024 * 1024;
const NOTARY_QUERY = '/_matrix/key/v2/query';

function expectError(status: number, errcode: string) {
  return (r: Exchange['response']): { verdict: Verdict; finding: string } => {
    if ('failure' in r) return { verdict: 'could_not_run', finding: describe(r) };
    if (r.status === status && r.errcode === errcode) return { verdict: 'pass', finding: describe(r) };
    if (r.status === status && !isMatrixError(r)) return { verdict: 'fail', finding: `${r.status} without a Matrix error body (expected ${status} ${errcode})` };
    return { verdict: 'fail', finding: `${describe(r)} instead of ${status} ${errcode}` };
  };
}

/** The notary endpoint is optional: a target without it cannot show these errors there. */
function notaryNotServed(r: SendResult): Outcome | undefined {
  if (!('status' in r.response) || r.response.status !== 404 || r.response.errcode !== 'M_UNRECOGNIZED') return undefined;
  const reason = `POST ${NOTARY_QUERY} is not served (${describe(r.response)}): the target is no notary`;
  return { verdict: 'not_applicable', reason, exchanges: [exchange(`POST ${NOTARY_QUERY}`, r, reason)] };
}

async function sendAll(ctx: ProbeContext, requests: Array<[string, ProbeRequest]>, judge: ReturnType<typeof expectError>): Promise<Outcome> {
  const exchanges: Exchange[] = [];
  const verdicts: Verdict[] = [];
  for (const [label, req] of requests) {
    const r = await ctx.send(req);
    const { verdict, finding } = judge(r.response);
    verdicts.push(verdict);
    exchanges.push(exchange(label, r, finding));
  }
  const verdict = combine(verdicts);
  return { verdict, reason: exchanges.map((e) => `${e.label}: ${e.finding}`).join('; '), exchanges };
}

export const errorChecks: CheckDefinition[] = [
  {
    id: 'errors.unknown-endpoint',
    group: 'errors',
    title: 'Unknown endpoints answer 404 M_UNRECOGNIZED',
    requirement: 'must',
    spec: SPEC_REFS.errorCodes,
    expected: 'A request for an endpoint the server does not implement gets 404 with errcode M_UNRECOGNIZED.',
    run: (ctx) =>
      sendAll(
        ctx,
        [
          ['GET /_matrix/federation/v1/probe-unknown', { method: 'GET', path: '/_matrix/federation/v1/probe-unknown' }],
          ['GET /_matrix/key/v2/probe-unknown', { method: 'GET', path: '/_matrix/key/v2/probe-unknown' }],
        ],
        expectError(404, 'M_UNRECOGNIZED'),
      ),
  },
  {
    id: 'errors.wrong-method',
    group: 'errors',
    title: 'A wrong method answers 405 M_UNRECOGNIZED',
    requirement: 'must',
    spec: SPEC_REFS.errorCodes,
    expected: 'A request with a method the endpoint does not support gets 405 with errcode M_UNRECOGNIZED.',
    run: (ctx) =>
      sendAll(
        ctx,
        [
          ['DELETE /_matrix/federation/v1/version', { method: 'DELETE', path: '/_matrix/federation/v1/version' }],
          ['PUT /_matrix/key/v2/server', { method: 'PUT', path: '/_matrix/key/v2/server', body: {} }],
        ],
        expectError(405, 'M_UNRECOGNIZED'),
      ),
  },
  {
    id: 'errors.bad-json',
    group: 'errors',
    title: 'A body that is not JSON answers 400 M_NOT_JSON',
    requirement: 'must',
    spec: SPEC_REFS.errorCodes,
    expected: 'A POST whose body is not valid JSON gets 400 with errcode M_NOT_JSON (sent to the notary endpoint, POST /_matrix/key/v2/query, which needs no signature).',
    async run(ctx) {
      const r = await ctx.send({ method: 'POST', path: NOTARY_QUERY, rawBody: Buffer.from('{"server_keys": {', 'utf8') });
      const notServed = notaryNotServed(r);
      if (notServed) return notServed;
      const { verdict, finding } = expectError(400, 'M_NOT_JSON')(r.response);
      return { verdict, reason: finding, exchanges: [exchange(`POST ${NOTARY_QUERY}`, r, finding)] };
    },
  },
  {
    id: 'errors.oversized-body',
    group: 'errors',
    title: 'An oversized body answers 413 M_TOO_LARGE',
    requirement: 'must',
    spec: SPEC_REFS.errorCodes,
    expected: `A body over the server's limit gets 413 with errcode M_TOO_LARGE, not a dropped connection or a server error (the probe sends ${OVERSIZED_BODY_BYTES} bytes of valid JSON; a server whose limit is higher accepts it, which is not applicable).`,
    async run(ctx) {
      const overhead = JSON.stringify({ server_keys: {}, probe_padding: '' }).length;
      const body = { server_keys: {}, probe_padding: 'x'.repeat(OVERSIZED_BODY_BYTES - overhead) };
      const r = await ctx.send({ method: 'POST', path: NOTARY_QUERY, body });
      const notServed = notaryNotServed(r);
      if (notServed) return notServed;
      const label = `POST ${NOTARY_QUERY} (${r.request.body_bytes} bytes)`;
      const res = r.response;
      let verdict: Verdict;
      let finding: string;
      if ('failure' in res) {
        verdict = 'fail';
        finding = `${describe(res)}: the connection ended without an answer; the spec answers 413 M_TOO_LARGE`;
      } else if (res.status === 413) {
        verdict = res.errcode === 'M_TOO_LARGE' ? 'pass' : 'fail';
        finding = verdict === 'pass' ? describe(res) : `413 ${res.errcode ?? 'without a Matrix error body'} instead of 413 M_TOO_LARGE`;
      } else if (res.status >= 500 || !isMatrixError(res) && (res.status < 200 || res.status >= 300)) {
        verdict = 'fail';
        finding = `${describe(res)} instead of 413 M_TOO_LARGE`;
      } else {
        verdict = 'not_applicable';
        finding = `${describe(res)}: the target took ${r.request.body_bytes} bytes, its limit is higher`;
      }
      return { verdict, reason: finding, exchanges: [exchange(label, r, finding)] };
    },
  },
];
