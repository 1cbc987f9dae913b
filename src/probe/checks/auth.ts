// Request authentication: a correctly signed request is accepted on each
// authenticated endpoint the target serves, and every way of getting the
// X-Matrix header wrong is refused there with 401 and a Matrix error.
import type { CheckDefinition, ProbeContext } from '../context.js';
import { SPEC_REFS } from '../context.js';
import * as headers from '../auth-headers.js';
import type { HeaderKeys, SignedRequest } from '../auth-headers.js';
import { combine, findingsLine, judgeAcceptance, judgeRefusal } from '../judge.js';
import type { Exchange, Outcome, Verdict } from '../types.js';
import { baseline, exchange, sendSigned, type Endpoint } from './shared.js';

const NO_BASELINE = 'no authenticated endpoint accepted a correctly signed request (see auth.signed-accepted), so a refusal here would prove nothing';

/**
 * Sends `build`'s headers to every endpoint that accepted a correctly signed
 * request and judges each answer with `judge`.
 */
async function onAcceptedEndpoints(
  ctx: ProbeContext,
  build: (req: SignedRequest, keys: HeaderKeys) => Variant[] | undefined,
  judge: (r: Exchange['response']) => { verdict: Verdict; finding: string },
  what: string,
): Promise<Outcome> {
  const { accepted } = await baseline(ctx);
  if (accepted.length === 0) return { verdict: 'could_not_run', reason: NO_BASELINE };
  const exchanges: Exchange[] = [];
  const verdicts: Verdict[] = [];
  for (const endpoint of accepted) {
    const variants = build(endpoint, ctx.keys);
    if (!variants) continue;
    for (const { label, authorization } of variants) {
      const r = await sendSigned(ctx, endpoint, authorization);
      const { verdict, finding } = judge(r.response);
      verdicts.push(verdict);
      exchanges.push(exchange(label === '' ? endpoint.name : `${endpoint.name}, ${label}`, r, finding));
    }
  }
  const verdict = combine(verdicts, 'not_applicable');
  if (verdicts.length === 0) return { verdict, reason: `no endpoint that accepted a signed request takes ${what}`, exchanges };
  const reason =
    verdict === 'pass'
      ? `${exchanges.length} request(s) on ${accepted.length} endpoint(s) (${accepted.map((e) => e.name).join(', ')}): ${[...new Set(exchanges.map((e) => e.finding))].join('; ')}`
      : findingsLine(exchanges, (e) => judge(e.response).verdict === verdict);
  return { verdict, reason, exchanges };
}

/** One request to send: its Authorization headers (none for an unsigned one). */
interface Variant {
  label: string;
  authorization: string[];
}

/** A single header per endpoint; `f` answers undefined where the attack does not apply. */
const one =
  (f: (req: SignedRequest, keys: HeaderKeys) => string | undefined) =>
  (req: SignedRequest, keys: HeaderKeys): Variant[] | undefined => {
    const header = f(req, keys);
    return header === undefined ? undefined : [{ label: '', authorization: [header] }];
  };

const unsigned = (): Variant[] => [{ label: '', authorization: [] }];
const malformed = (req: SignedRequest, keys: HeaderKeys): Variant[] => headers.malformedHeaders(req, keys).map(({ label, header }) => ({ label, authorization: [header] }));

const refused401 = (r: Exchange['response']) => judgeRefusal(r, [401]);

function attack(id: string, title: string, expected: string, build: (req: SignedRequest, keys: HeaderKeys) => Variant[] | undefined, what = 'this request'): CheckDefinition {
  return {
    id,
    group: 'auth',
    title,
    requirement: 'must',
    spec: SPEC_REFS.requestAuth,
    expected,
    run: (ctx) => onAcceptedEndpoints(ctx, build, refused401, what),
  };
}

export const authChecks: CheckDefinition[] = [
  {
    id: 'auth.signed-accepted',
    group: 'auth',
    title: 'A correctly signed request is accepted',
    requirement: 'must',
    spec: SPEC_REFS.requestAuth,
    expected:
      'A request signed by the probe with a key it publishes, naming the target as destination, is authenticated (not 401) on each authenticated endpoint the target serves; the target fetches the key to check it.',
    async run(ctx) {
      const b = await baseline(ctx);
      const exchanges = b.endpoints.map((e) => e.exchange);
      const verdicts: Verdict[] = b.endpoints.map(({ acceptance }) =>
        acceptance === 'accepted' ? 'pass' : acceptance === 'not_served' ? 'not_applicable' : acceptance === 'refused' || acceptance === 'server_error' ? 'fail' : 'could_not_run',
      );
      const verdict = combine(verdicts);
      const served = b.endpoints.filter((e) => e.acceptance !== 'not_served');
      const reason =
        verdict === 'fail'
          ? `${findingsLine(exchanges, (e) => /^refused|^server error/.test(e.finding))} (a refusal means the target could not fetch or check the probe's key: see outbound.key-fetch)`
          : verdict === 'not_applicable'
            ? 'the target serves none of the authenticated endpoints the probe uses'
            : findingsLine(
                served.map((e) => e.exchange),
                () => true,
              );
      return { verdict, reason, exchanges };
    },
  },
  attack(
    'auth.unsigned',
    'An unsigned request is refused',
    'A request without an Authorization header is refused with 401 and a Matrix error, never answered.',
    unsigned,
  ),
  attack(
    'auth.forged-signature',
    'A forged signature is refused',
    "A request whose signature was made with another key under the probe's key id is refused with 401.",
    one(headers.forgedHeader),
  ),
  attack(
    'auth.other-uri',
    'A signature over another URI is refused',
    'A request signed over a different URI (the same path with another query) is refused with 401: the signature covers the path and query as sent.',
    one(headers.otherUriHeader),
  ),
  attack(
    'auth.other-method',
    'A signature over another method is refused',
    'A request signed for another HTTP method is refused with 401: the signature covers the method.',
    one(headers.otherMethodHeader),
  ),
  attack(
    'auth.other-body',
    'A signature over another body is refused',
    'A request whose body differs from the signed content is refused with 401: the signature covers the JSON body.',
    one(headers.otherBodyHeader),
    'a body',
  ),
  attack(
    'auth.wrong-destination',
    'A request for another destination is refused',
    'A request whose X-Matrix destination is not the target (signed for that destination) is refused with 401.',
    one(headers.wrongDestinationHeader),
  ),
  attack(
    'auth.missing-destination',
    'Without destination, a signature for another server is refused',
    'A header without destination is checked as if it named the target, so a signature made for another destination is refused with 401.',
    one(headers.missingDestinationHeader),
  ),
  {
    id: 'auth.destination-omitted',
    group: 'auth',
    title: 'A header without destination, signed for the target, is accepted',
    requirement: 'should',
    spec: SPEC_REFS.requestAuth,
    expected: 'For compatibility with older servers, recipients should accept requests without the destination parameter when the signature is valid for them.',
    run: (ctx) =>
      onAcceptedEndpoints(
        ctx,
        one(headers.omittedDestinationHeader),
        (r) => {
          const { acceptance, finding } = judgeAcceptance(r);
          return { verdict: acceptance === 'accepted' ? 'pass' : acceptance === 'no_answer' ? 'could_not_run' : 'fail', finding };
        },
        'this request',
      ),
  },
  attack(
    'auth.unknown-key',
    'A signature by an unpublished key is refused',
    "A request signed with a key id the probe never published is refused with 401 (the target's fresh fetch of the probe's keys does not find it).",
    one(headers.unknownKeyHeader),
  ),
  attack(
    'auth.unfetchable-origin',
    'An origin whose keys cannot be fetched is refused',
    'A request from an origin whose keys cannot be fetched (a name under .invalid) is refused with 401, not with a server error or a hang.',
    one(headers.unfetchableOriginHeader),
  ),
  {
    id: 'auth.malformed-header',
    group: 'auth',
    title: 'Malformed Authorization headers are refused',
    requirement: 'must',
    spec: SPEC_REFS.requestAuth,
    expected:
      'Headers missing origin, key or sig, with an unterminated quote, an origin that is not a server name, a signature that is not base64, a key id without algorithm, or another scheme are refused with 401 (400 is accepted for a header that cannot be parsed: the spec names no status for it, Synapse answers 400) and a Matrix error.',
    run: (ctx) => onAcceptedEndpoints(ctx, malformed, (r) => judgeRefusal(r, [401, 400]), 'this request'),
  },
];

/** Exposed for the outbound checks, which need an endpoint the target accepts signed requests on. */
export async function firstAcceptedEndpoint(ctx: ProbeContext): Promise<Endpoint | undefined> {
  return (await baseline(ctx)).accepted[0];
}
