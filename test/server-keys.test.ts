import t from 'tap';
import { checkServerKeys, MAX_KEY_VALIDITY_MS } from '../src/matrix/server-keys.js';
import { buildKeyDocument } from '../src/server/key-document.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { signJson } from '../src/matrix/signing.js';

const now = 1_700_000_000_000;
const k1 = generateSigningKey('a');
const k2 = generateSigningKey('b');
const good = buildKeyDocument({
  serverName: 'o.test',
  signingKeys: [k1, k2],
  oldVerifyKeys: { 'ed25519:old': { key: k2.publicKeyBase64, expiredTs: 5 } },
  refreshIntervalMs: 86_400_000,
  now: () => now,
}).object;

t.test('a good document passes every check', async (t) => {
  const r = checkServerKeys(good, 'o.test', now + 1000);
  t.ok(r.ok);
  t.same(r.checks.map((c) => c.check), ['json_object', 'server_name', 'verify_keys', 'old_verify_keys', 'valid_until_ts', 'self_signature']);
  t.same(Object.keys(r.keys!.verifyKeys).sort(), ['ed25519:a', 'ed25519:b']);
  t.equal(r.keys!.oldVerifyKeys['ed25519:old']!.expiredTs, 5);
  t.equal(r.keys!.effectiveValidUntilTs, now + 86_400_000);
  const long = signJson({ ...good, signatures: undefined, valid_until_ts: now + 30 * 86_400_000 }, 'o.test', k1);
  t.equal(checkServerKeys(long, 'o.test', now).keys!.effectiveValidUntilTs, now + MAX_KEY_VALIDITY_MS, 'capped at 7 days after receipt');
});

t.test('each failure names its check', async (t) => {
  const resign = (doc: Record<string, unknown>, key = k1) => signJson({ ...doc, signatures: undefined }, 'o.test', key);
  const strip = (d: Record<string, unknown>) => {
    const { signatures: _s, ...rest } = d;
    return rest;
  };
  const cases: Array<[unknown, string, RegExp, number?]> = [
    [[1], 'json_object', /not a JSON object/],
    [good, 'server_name', /server_name is "o.test", expected "x.test"/],
    [resign({ ...good, verify_keys: 'x' }), 'verify_keys', /missing or not an object/],
    [resign({ ...good, verify_keys: {} }), 'verify_keys', /no Ed25519 key/],
    [resign({ ...good, verify_keys: { 'ed25519:a': { key: 'AAAA' } } }), 'verify_keys', /32 bytes, got 3/],
    [resign({ ...good, verify_keys: { 'ed25519:a-b': { key: k1.publicKeyBase64 } } }), 'verify_keys', /is not ed25519/],
    [resign({ ...good, verify_keys: { 'ed25519:a': {} } }), 'verify_keys', /missing "key"/],
    [resign({ ...good, verify_keys: { 'ed25519:a': { key: '!!' } } }), 'verify_keys', /invalid base64/],
    [resign({ ...good, old_verify_keys: [] }), 'old_verify_keys', /not an object/],
    [resign({ ...good, old_verify_keys: { 'ed25519:x': { key: k1.publicKeyBase64 } } }), 'old_verify_keys', /expired_ts is not an integer/],
    [resign({ ...good, old_verify_keys: { 'ed25519:x': { key: 'AA', expired_ts: 1 } } }), 'old_verify_keys', /32 bytes/],
    [{ ...good, valid_until_ts: 1.5 }, 'valid_until_ts', /not an integer/],
    [good, 'valid_until_ts', /is in the past/, now + 86_400_000],
    [strip(good), 'self_signature', /not signed by any of its own verify_keys/],
    [{ ...good, valid_until_ts: now + 5000 }, 'self_signature', /does not verify/],
    [resign(good, generateSigningKey('zz')), 'self_signature', /not signed by any/],
  ];
  for (const [doc, check, reason, at] of cases) {
    const r = checkServerKeys(doc, check === 'server_name' ? 'x.test' : 'o.test', at ?? now);
    t.notOk(r.ok, check);
    const last = r.checks[r.checks.length - 1]!;
    t.equal(last.check, check);
    t.notOk(last.ok);
    t.match(last.detail, reason);
  }
  // Keys of other algorithms are ignored, not fatal.
  const mixed = resign({ ...good, verify_keys: { ...(good.verify_keys as object), 'curve25519:x': { key: 'AA' } }, old_verify_keys: { 'other:x': {} } });
  t.ok(checkServerKeys(mixed, 'o.test', now).ok);
});
