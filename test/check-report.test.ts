// The pure half of `fedpeer check`: facts -> findings, report -> text and
// HTML, the per-name cache, SCT detection. No sockets: facts are built here,
// so cases that are awkward to stage on the private internet (an expired
// intermediate, a not-yet-valid leaf, TLS version mismatches, too many
// targets) are covered too.
import t from 'tap';
import 'reflect-metadata';
import fc from 'fast-check';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
// Registers node's WebCrypto with @peculiar/x509.
import '../src/server/dev-ca.js';
import { analyse, buildReport, certificateCovers, certificateNames } from '../src/check/findings.js';
import { renderHtmlForm, renderHtmlReport, escapeHtml, h } from '../src/check/report-html.js';
import { renderText, wrap } from '../src/check/report-text.js';
import { cachedChecker } from '../src/check/run.js';
import { describeCertificate, hasEmbeddedScts } from '../src/check/tls-probe.js';
import type { CertificateReport, CheckFacts, CheckReport, TargetReport } from '../src/check/types.js';

const NOW = Date.parse('2025-06-01T00:00:00Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function cert(names: string[], over: Partial<CertificateReport> = {}): CertificateReport {
  return {
    subject: `CN=${names[0]}`,
    issuer: 'CN=Test CA',
    subject_alt_names: names.map((n) => (/^[\d.]+$/.test(n) ? `IP Address:${n}` : `DNS:${n}`)),
    not_before: iso(NOW - 10 * DAY),
    not_after: iso(NOW + 60 * DAY),
    days_left: 60,
    sha256: 'AA:BB',
    public_key_sha256: 'sha256/AAAA',
    serial: '01',
    sct: true,
    ...over,
  };
}

function target(over: Partial<TargetReport> = {}): TargetReport {
  return {
    address: '192.0.2.1',
    port: 8448,
    host: 'example.test',
    tls_name: 'example.test',
    route: null,
    sni: 'example.test',
    srv_target: null,
    tcp: { ok: true, ms: 3, error: null },
    tls: {
      ok: true,
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      chain: [cert(['example.test']), cert(['Test CA'], { subject_alt_names: [], subject: 'CN=Test CA' })],
      trusted: true,
      trust_error: null,
      name_valid: true,
      name_error: null,
      verification: 'strict',
      exempt_by: null,
    pin_ok: null,
      accepted: true,
      check: null,
      error: null,
    },
    version: { ok: true, status: 200, server: { name: 'Synapse', version: '1.99' }, error: null },
    keys: {
      ok: true,
      status: 200,
      checks: [{ check: 'json_object', ok: true, detail: 'a JSON object' }],
      key_ids: ['ed25519:a'],
      valid_until: iso(NOW + DAY),
      error: null,
    },
    ...over,
  };
}

function facts(over: Partial<CheckFacts> = {}): CheckFacts {
  return {
    version: 1,
    server_name: 'example.test',
    checked_at: iso(NOW),
    duration_ms: 12,
    resolution: {
      delegated_server: null,
      route: 'default-port',
      steps: [{ step: 'address', lookup: 'example.test AAAA/A', outcome: 'found', detail: '192.0.2.1 port 8448 (dns)', cached: false }],
      targets: [{ address: '192.0.2.1', port: 8448, host: 'example.test', tls_name: 'example.test', route: null }],
      error: null,
    },
    well_known: null,
    srv: [],
    targets: [target()],
    targets_not_probed: 0,
    client_well_known: null,
    trust: 'system CA store (140 certificates); minimum TLS 1.2',
    dns_servers: ['192.0.2.53:53'],
    ...over,
  };
}

const codes = (f: CheckFacts) => analyse(f).map((x) => x.code);
const withTls = (tls: Partial<NonNullable<TargetReport['tls']>>, over: Partial<TargetReport> = {}) => target({ tls: { ...target().tls!, ...tls }, ...over });

t.test('a healthy server: no findings, federation_ok', async (t) => {
  const r = buildReport(facts());
  t.same(r.findings, []);
  t.equal(r.federation_ok, true);
  t.equal(r.verdict, 'Federation with example.test works.');
  t.match(renderText(r), /^fedpeer check example\.test: OK\n/);
});

t.test('certificate dates: expired intermediate, not yet valid, OpenSSL codes without dates', async (t) => {
  const expiredIntermediate = withTls({
    trusted: false,
    trust_error: 'CERT_HAS_EXPIRED',
    chain: [cert(['example.test']), cert(['Old CA'], { subject: 'CN=Old CA', subject_alt_names: [], not_after: iso(NOW - 2 * DAY), days_left: -2 })],
    accepted: false,
  });
  let f = analyse(facts({ targets: [expiredIntermediate] }));
  t.same(f.map((x) => x.code), ['CERT_EXPIRED']);
  t.match(f[0]!.explanation, 'The certificate CN=Old CA in the chain expired on');

  const early = withTls({ trusted: false, trust_error: 'CERT_NOT_YET_VALID', chain: [cert(['example.test'], { not_before: iso(NOW + DAY) })], accepted: false });
  t.same(codes(facts({ targets: [early] })), ['CERT_NOT_YET_VALID']);
  // OpenSSL's word alone (e.g. a clock between the probe and the analysis).
  t.same(codes(facts({ targets: [withTls({ trusted: false, trust_error: 'CERT_HAS_EXPIRED', accepted: false })] })), ['CERT_EXPIRED']);
  t.same(codes(facts({ targets: [withTls({ trusted: false, trust_error: 'CERT_NOT_YET_VALID', accepted: false })] })), ['CERT_NOT_YET_VALID']);

  f = analyse(facts({ targets: [withTls({ trusted: false, trust_error: 'DEPTH_ZERO_SELF_SIGNED_CERT', chain: [cert(['example.test'])], accepted: false })] }));
  t.match(f[0], { code: 'CERT_UNTRUSTED', fix: /self-signed/ });
  f = analyse(facts({ targets: [withTls({ trusted: false, trust_error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', accepted: false })] }));
  t.match(f[0], { code: 'CERT_UNTRUSTED', fix: /Let's Encrypt\), with its full chain/ });
});

t.test('names: generic mismatches, IP literals, delegation without the domain name', async (t) => {
  const wrong = withTls({ name_valid: false, name_error: 'x', accepted: false, chain: [cert(['other.test'])] });
  let f = analyse(facts({ targets: [wrong] }));
  t.match(f[0], { code: 'CERT_NAME_MISMATCH', explanation: /must be valid for example\.test \(the server name\) but is valid only for other\.test\./, fix: /the SNI sent is example\.test/ });

  const ip = withTls({ name_valid: false, accepted: false, chain: [cert(['example.test'])] }, { tls_name: '192.0.2.1', sni: null, host: '192.0.2.1' });
  f = analyse(facts({ server_name: '192.0.2.1', targets: [ip] }));
  t.match(f[0], { code: 'CERT_NAME_MISMATCH', explanation: /\(the IP address\)/, fix: /no SNI is sent/ });

  const delegated = withTls({ name_valid: false, accepted: false, chain: [cert(['elsewhere.test'])] }, { tls_name: 'hs.example.test', host: 'hs.example.test' });
  f = analyse(facts({ resolution: { ...facts().resolution, delegated_server: 'hs.example.test' }, targets: [delegated] }));
  t.match(f[0], { code: 'CERT_NAME_MISMATCH', explanation: /\(the delegated name\)/ });

  // Through SRV, to a target whose certificate names neither.
  const srv = [{ service: '_matrix-fed._tcp' as const, name: '_matrix-fed._tcp.example.test', outcome: 'found' as const, records: [{ priority: 0, weight: 0, port: 8448, target: 'hs.example.test' }], used: true, error: null }];
  f = analyse(facts({ resolution: { ...facts().resolution, route: 'srv' }, srv, targets: [{ ...wrong, srv_target: 'hs.example.test' }] }));
  t.match(f[0], { code: 'CERT_NAME_MISMATCH', explanation: /reached through _matrix-fed\._tcp\.example\.test -> hs\.example\.test:8448, the SRV target's name does not count/ });

  // Delegated through SRV on the delegated name: the alternative SRV record points at the final host.
  const viaSrv = withTls({ name_valid: false, accepted: false, chain: [cert(['example.test'])] }, { tls_name: 'hs.example.test', host: 'hs.example.test', srv_target: 'box.example.test', port: 8449 });
  const srvHs = [{ ...srv[0]!, name: '_matrix-fed._tcp.hs.example.test', records: [{ priority: 0, weight: 0, port: 8449, target: 'box.example.test' }] }];
  f = analyse(facts({ resolution: { ...facts().resolution, route: 'srv', delegated_server: 'hs.example.test' }, srv: srvHs, targets: [viaSrv] }));
  t.match(f[0], {
    code: 'CERT_NAME_MISMATCH_DELEGATED',
    explanation: /and _matrix-fed\._tcp\.hs\.example\.test -> box\.example\.test:8449, the certificate must be valid for hs\.example\.test/,
    fix: /_matrix-fed\._tcp\.example\.test -> box\.example\.test:8449 instead/,
  });

  t.same(certificateNames(cert(['a.test', '192.0.2.9'])), ['a.test', '192.0.2.9']);
  t.same(certificateNames(cert(['x'], { subject: 'O=Org, CN=cn.test', subject_alt_names: [] })), ['cn.test']);
  t.same(certificateNames(cert(['x'], { subject: 'O=Org', subject_alt_names: [] })), []);
  t.ok(certificateCovers(cert(['*.example.test']), 'hs.example.test'));
  t.notOk(certificateCovers(cert(['*.example.test']), 'example.test'));
});

t.test('connections and endpoints', async (t) => {
  const proto = withTls({ ok: false, check: 'protocol-version', error: 'ERR_SSL_UNSUPPORTED_PROTOCOL: unsupported protocol', chain: [], accepted: false });
  let f = analyse(facts({ targets: [proto] }));
  t.match(f[0], { code: 'TLS_HANDSHAKE_FAILED', explanation: /no TLS version both sides accept/, fix: /TLS 1\.2 and 1\.3/ });
  const reset = withTls({ ok: false, check: 'handshake', error: 'ECONNRESET: socket hang up', chain: [], accepted: false });
  t.match(analyse(facts({ targets: [reset] }))[0], { code: 'TLS_HANDSHAKE_FAILED', fix: /must answer the SNI example\.test/ });

  const endpoints = target({
    version: { ok: false, status: 404, server: null, error: 'status 404' },
    keys: { ok: false, status: 502, checks: [], key_ids: [], valid_until: null, error: 'status 502' },
  });
  t.same(codes(facts({ targets: [endpoints] })), ['KEY_FETCH_FAILED', 'VERSION_FAILED']);
  const invalid = target({ keys: { ok: false, status: 200, checks: [{ check: 'json_object', ok: true, detail: '' }, { check: 'verify_keys', ok: false, detail: 'no Ed25519 key in verify_keys' }], key_ids: [], valid_until: null, error: 'x' } });
  t.match(analyse(facts({ targets: [invalid] }))[0], { code: 'KEY_INVALID', explanation: 'verify_keys: no Ed25519 key in verify_keys' });
  const missingTs = target({ keys: { ok: false, status: 200, checks: [{ check: 'valid_until_ts', ok: false, detail: 'valid_until_ts is missing or not an integer' }], key_ids: [], valid_until: null, error: 'x' } });
  t.same(codes(facts({ targets: [missingTs] })), ['KEY_INVALID']);

  // Three addresses of one host with one wrong certificate: one finding listing them.
  const wrong = (address: string) => withTls({ name_valid: false, accepted: false, chain: [cert(['other.test'])] }, { address });
  f = analyse(facts({ targets: [wrong('192.0.2.1'), wrong('192.0.2.2'), wrong('2001:db8::1')] }));
  t.same(f.map((x) => [x.code, x.targets]), [['CERT_NAME_MISMATCH', ['192.0.2.1:8448', '192.0.2.2:8448', '[2001:db8::1]:8448']]]);

  f = analyse(facts({ targets_not_probed: 5, resolution: { ...facts().resolution, targets: Array(15).fill(facts().resolution.targets[0]) } }));
  t.match(f, [{ code: 'TARGETS_NOT_PROBED', severity: 'info', explanation: 'Resolution found 15 targets; the first 1 were checked.' }]);
});

t.test('verdicts', async (t) => {
  const bad = withTls({ name_valid: false, accepted: false, chain: [cert(['other.test'])] });
  const refused = target({ address: '192.0.2.2', tcp: { ok: false, ms: null, error: 'ECONNREFUSED' }, tls: null, version: null, keys: null });
  const twoErrors = buildReport(facts({ targets: [bad, refused, withTls({ ok: false, error: 'boom', chain: [], accepted: false }, { address: '192.0.2.4' })] }));
  t.match(twoErrors.verdict, /fails: The certificate is not valid for example\.test \(and 1 more error\)\.$/);
  t.equal(buildReport(facts({ targets: [bad, withTls({ ok: false, error: 'a', chain: [] }, { address: '192.0.2.5' }), withTls({ ok: false, error: 'b', chain: [] }, { address: '192.0.2.6' })] })).verdict.endsWith('(and 2 more errors).'), true);
  t.equal(twoErrors.findings.find((f) => f.code === 'TCP_CONNECT_FAILED')!.severity, 'warning', 'another target connected');
  const none = buildReport(facts({ targets: [target({ keys: null, version: null })] }));
  t.equal(none.federation_ok, false);
  t.match(none.verdict, /no target answered with an accepted certificate and valid keys/);
  const warnings = buildReport(facts({ targets: [withTls({ chain: [cert(['example.test'], { days_left: 3 }), cert(['CA'], { subject_alt_names: [] })] }), withTls({ chain: [cert(['example.test'], { days_left: 2, not_after: iso(NOW + 2 * DAY) })] }, { address: '192.0.2.3' })] }));
  t.match(warnings.verdict, 'works, with 2 warnings.');
});

t.test('SCT detection in the DER', async (t) => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const make = (extensions: x509.Extension[]) =>
    x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=sct.test',
      notBefore: new Date(NOW - DAY),
      notAfter: new Date(NOW + DAY),
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      signingAlgorithm: alg,
      extensions,
    });
  // An SCT list as a public CA embeds it: an OCTET STRING around the TLS-encoded list (content irrelevant here).
  const withSct = await make([new x509.Extension('1.3.6.1.4.1.11129.2.4.2', false, new Uint8Array([0x04, 0x04, 0x00, 0x02, 0x00, 0x00]))]);
  const without = await make([]);
  t.equal(hasEmbeddedScts(Buffer.from(withSct.rawData)), true);
  t.equal(hasEmbeddedScts(Buffer.from(without.rawData)), false);
  // The precertificate poison (…2.4.3) is not an SCT list.
  const poison = await make([new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, new Uint8Array([0x05, 0x00]))]);
  t.equal(hasEmbeddedScts(Buffer.from(poison.rawData)), false);
  const described = describeCertificate(Buffer.from(withSct.rawData), NOW);
  t.match(described, { subject: 'CN=sct.test', subject_alt_names: [], sct: true, days_left: 1, not_after: iso(NOW + DAY) });
});

t.test('the per-name cache: a minute, shared runs, bounded, failures not kept', async (t) => {
  let clock = 0;
  let runs = 0;
  const run = async (name: string): Promise<CheckReport> => {
    runs++;
    if (name === 'boom.test') throw new Error('bug');
    return buildReport(facts({ server_name: name }));
  };
  const c = cachedChecker(run, { ttlMs: 60_000, maxEntries: 2, now: () => clock });
  const [a, b] = await Promise.all([c.check('a.test'), c.check('a.test')]);
  t.equal(a, b);
  t.equal(runs, 1);
  clock = 59_999;
  await c.check('a.test');
  t.equal(runs, 1, 'cached within the minute');
  clock = 60_000;
  await c.check('a.test');
  t.equal(runs, 2, 'rerun after it');
  const rerun = await c.check('a.test');
  t.equal(await c.check('A.test'), rerun, 'letter case does not make another name (nor another run)');
  await c.check('c.test');
  t.equal(runs, 3);
  t.equal(c.size, 2, 'bounded');
  await t.rejects(c.check('boom.test'), /bug/);
  await new Promise((r) => setImmediate(r));
  t.equal(c.size, 2, 'a run that threw is not kept (nor made room for)');
  await t.rejects(c.check('boom.test'));
  t.equal(runs, 5, 'and tried again');
});

t.test('text: wrapping, failures and details', async (t) => {
  t.same(wrap('a '.repeat(60).trim(), '  ').map((l) => l.length <= 100), [true, true]);
  const r = buildReport(
    facts({
      well_known: { url: 'https://example.test/.well-known/matrix/server', outcome: 'failed', responses: [{ url: 'https://example.test/.well-known/matrix/server', status: 200 }], body: '{nope', m_server: null, cache_seconds: 3600, header_cache_seconds: null, check: 'json', error: 'body is not JSON' },
      srv: [{ service: '_matrix-fed._tcp', name: '_matrix-fed._tcp.example.test', outcome: 'failed', records: [], used: false, error: 'ESERVFAIL' }],
      targets: [
        target({ tcp: { ok: false, ms: null, error: 'ECONNREFUSED' }, tls: null, version: null, keys: null }),
        withTls({ ok: false, error: 'boom', chain: [], accepted: false }, { address: '192.0.2.2' }),
        withTls({ verification: 'exempt', exempt_by: 'federation_verify_certificates: false', trusted: false, trust_error: 'X' }, { address: '192.0.2.3', version: { ok: false, status: null, server: null, error: 'timeout' } }),
      ],
      targets_not_probed: 2,
      client_well_known: { url: 'https://example.test/.well-known/matrix/client', outcome: 'found', status: 200, body: '{}', cors: '*', base_url: 'http://example.test', base_url_check: { url: 'http://example.test/_matrix/client/versions', ok: false, status: null, error: 'not an https URL (http:)' }, error: null },
    }),
  );
  const text = renderText(r);
  t.match(text, /TCP {7}FAILED: ECONNREFUSED/);
  t.match(text, /TLS {7}FAILED: boom/);
  t.match(text, /not verified: federation_verify_certificates: false; accepted/);
  t.match(text, /version {3}FAILED: timeout/);
  t.match(text, /body: "\{nope"/);
  t.match(text, /failure cached 3600 s/);
  t.match(text, /_matrix-fed\._tcp\.example\.test: failed: ESERVFAIL/);
  t.match(text, /\(2 more not checked\)/);
  t.match(text, /NOT reachable: not an https URL/);
  t.same(r.findings.map((f) => f.code), ['TLS_HANDSHAKE_FAILED', 'WELL_KNOWN_INVALID', 'TCP_CONNECT_FAILED', 'VERSION_FAILED', 'CLIENT_WELL_KNOWN_BASE_URL_UNREACHABLE', 'CERT_NOT_VERIFIED', 'TARGETS_NOT_PROBED']);
  const html = renderHtmlReport(r, { action: '/_fedpeer/check' });
  t.match(html, /<span class="bad">ECONNREFUSED<\/span>/);
  t.match(html, /Failure cached for/);
});

t.test('HTML: every server-provided string is escaped', async (t) => {
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  t.equal(h`<b>${'<i>'}</b>${['<u>', h`<s>`]}${null}${false}${7}`.html, '<b>&lt;i&gt;</b>&lt;u&gt;<s>7');
  t.equal(h`${{ html: '<forged>' }}`.html, '[object Object]', 'only markup made by h counts as markup');
  t.match(renderHtmlForm({ action: '/c', value: '"><x-evil>', error: '<x-evil>' }), 'value="&quot;&gt;&lt;x-evil&gt;"');

  // Replace every string of a report (facts, findings, details) with hostile text and render.
  const base = buildReport(
    facts({
      well_known: { url: 'u', outcome: 'found', responses: [{ url: 'u', status: 301, location: 'l' }, { url: 'u2', status: 200 }], body: 'b', m_server: 'm', cache_seconds: 1, header_cache_seconds: 1, check: null, error: 'e' },
      srv: [{ service: '_matrix-fed._tcp', name: 'n', outcome: 'found', records: [{ priority: 1, weight: 1, port: 1, target: 't' }], used: true, error: 'e' }],
      targets: [withTls({ name_valid: false, name_error: 'n', exempt_by: 'x', verification: 'exempt' }), target({ address: '192.0.2.9', srv_target: 's' })],
      client_well_known: { url: 'u', outcome: 'invalid', status: 200, body: 'b', cors: null, base_url: 'b', base_url_check: { url: 'u', ok: true, status: 200, error: null }, error: 'e' },
      resolution: { ...facts().resolution, error: { step: 's', check: 'c', message: 'm' }, delegated_server: 'd', route: 'srv' },
    }),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('<x-evil>', '"><x-evil a="', "'><x-evil>", '</style><x-evil>', '<!--<x-evil>-->', '&lt;x-evil&gt;<x-evil>'), async (payload) => {
      const hostile = JSON.parse(JSON.stringify(base), (key, v) => (typeof v === 'string' && key !== 'checked_at' && key !== 'not_after' && key !== 'not_before' && key !== 'severity' ? `${v}${payload}` : v)) as CheckReport;
      const out = renderHtmlReport(hostile, { action: '/_fedpeer/check' });
      t.notOk(out.includes('<x-evil'), `no raw tag for ${payload}`);
      t.notOk(/<[^>]*\sa="/.test(out.replace(/<(meta|input|form|html|section|article|span|p|td|ol|table|a|label|button)\b[^>]*>/g, '')), 'no injected attribute');
      return true;
    }),
    { numRuns: 6 },
  );
});
