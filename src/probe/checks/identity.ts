// The target's identity: its key document, one aspect per check, and /version.
import type { CheckDefinition, ProbeContext } from '../context.js';
import { SPEC_REFS } from '../context.js';
import { describe } from '../judge.js';
import { judgeOldVerifyKeys, judgeSelfSignature, judgeServerName, judgeValidUntil, judgeVerifyKeys, judgeVersion } from '../key-document.js';
import type { SendResult } from '../sender.js';
import type { Outcome } from '../types.js';
import { exchange, keyDocument, version } from './shared.js';

/** Why `r` is not a 200 answer with a JSON body, or undefined when it is. */
function notJson200(r: SendResult, what: string): Outcome | undefined {
  if ('status' in r.response && r.response.status === 200 && r.json !== undefined) return undefined;
  const reason = 'status' in r.response && r.response.status === 200 ? `${what}: answered 200 with a body that is not JSON` : `${what}: ${describe(r.response)}`;
  // No answer at all says nothing about the target's documents; a wrong answer is the failure.
  return { verdict: 'failure' in r.response ? 'could_not_run' : 'fail', reason, exchanges: [exchange(what.split(' ')[1]!, r, reason)] };
}

/** Runs `judge` on the key document, or says why there is none to judge. */
async function onKeyDocument(ctx: ProbeContext, judge: (doc: unknown) => Outcome): Promise<Outcome> {
  const r = await keyDocument(ctx);
  const problem = notJson200(r, 'GET /_matrix/key/v2/server');
  if (problem) return problem;
  const outcome = judge(r.json);
  return { ...outcome, exchanges: [exchange('/_matrix/key/v2/server', r, outcome.reason)] };
}

export const identityChecks: CheckDefinition[] = [
  {
    id: 'identity.server-name',
    group: 'identity',
    title: "The key document names the target",
    requirement: 'must',
    spec: SPEC_REFS.publishingKeys,
    expected: 'GET /_matrix/key/v2/server answers 200 with a JSON object whose server_name is the target server name.',
    run: (ctx) => onKeyDocument(ctx, (doc) => judgeServerName(doc, ctx.target)),
  },
  {
    id: 'identity.verify-keys',
    group: 'identity',
    title: 'verify_keys holds well-formed Ed25519 keys',
    requirement: 'must',
    spec: SPEC_REFS.publishingKeys,
    expected: 'verify_keys maps key ids ed25519:<[a-zA-Z0-9_]+> to {key: unpadded base64 of 32 bytes}, with at least one Ed25519 key.',
    run: (ctx) => onKeyDocument(ctx, (doc) => judgeVerifyKeys(doc)),
  },
  {
    id: 'identity.self-signature',
    group: 'identity',
    title: 'The key document is signed by its own keys',
    requirement: 'must',
    spec: SPEC_REFS.signingJson,
    expected: 'signatures[server_name] holds a signature by at least one key of verify_keys, and every signature by such a key verifies over the canonical JSON of the document.',
    run: (ctx) =>
      onKeyDocument(ctx, (doc) => {
        const { keys } = judgeVerifyKeys(doc);
        return judgeSelfSignature(doc, ctx.target, keys);
      }),
  },
  {
    id: 'identity.valid-until',
    group: 'identity',
    title: 'valid_until_ts is in the future',
    requirement: 'must',
    spec: SPEC_REFS.publishingKeys,
    expected: 'valid_until_ts is an integer (ms since the epoch) in the future; other servers trust the keys at most 7 days past their fetch.',
    run: (ctx) => onKeyDocument(ctx, (doc) => judgeValidUntil(doc, ctx.now())),
  },
  {
    id: 'identity.old-verify-keys',
    group: 'identity',
    title: 'old_verify_keys is well formed',
    requirement: 'must',
    spec: SPEC_REFS.publishingKeys,
    expected: 'old_verify_keys, when present, maps Ed25519 key ids to {key, expired_ts} with an integer expired_ts.',
    run: (ctx) => onKeyDocument(ctx, (doc) => judgeOldVerifyKeys(doc)),
  },
  {
    id: 'identity.version',
    group: 'identity',
    title: '/version answers with the server software',
    requirement: 'must',
    spec: SPEC_REFS.version,
    expected: 'GET /_matrix/federation/v1/version answers 200 with {server: {name, version}}, both strings when present.',
    async run(ctx) {
      const r = await version(ctx);
      const problem = notJson200(r, 'GET /_matrix/federation/v1/version');
      if (problem) return problem;
      const outcome = judgeVersion(r.json);
      return { ...outcome, exchanges: [exchange('/_matrix/federation/v1/version', r, outcome.reason)] };
    },
  },
];
