// The probe against deliberately wrong servers: each is a real fedpeer with
// one part swapped, and the probe must flag exactly the check that part
// breaks, and nothing else.
import t from 'tap';
import { acceptUnsigned, ignoreDestination, probeWorld, serveUnsignedKeys } from './harness/probe-world.js';
import type { Fixture } from './harness/server-fixture.js';

const world = await probeWorld('probe-wrong');
t.teardown(() => world.close());

const cases: Array<[string, string, RegExp, (f: Fixture) => void | Promise<void>, Record<string, unknown>]> = [
  ['unsigned.test', 'auth.unsigned', /query\/profile: answered 404 M_NOT_FOUND instead of 401: the request was processed, not refused/, acceptUnsigned, {}],
  ['nodestination.test', 'auth.wrong-destination', /query\/profile: answered 404 M_NOT_FOUND instead of 401/, ignoreDestination, {}],
  ['unsignedkeys.test', 'identity.self-signature', /the document carries no signature from unsignedkeys.test/, serveUnsignedKeys, {}],
  ['noverify.test', 'outbound.certificate-verification', /completed a TLS handshake with probe.test:8449's untrusted certificate and sent GET \/_matrix\/key\/v2\/server/, () => {}, { federation_verify_certificates: false }],
];

cases.forEach(([name, check, reason, deviate, raw], i) => {
  t.test(`${name} is flagged by ${check} alone`, async (t) => {
    const target = await world.startTarget(name, 2 + i, raw);
    t.teardown(() => target.close());
    await deviate(target);
    const { code, report } = await world.probeJson(name);
    const failed = report.checks.filter((c) => c.verdict === 'fail');
    t.same(failed.map((c) => c.id), [check]);
    t.match(failed[0]?.reason, reason);
    t.equal(code, 1, 'exit 1');
  });
});
