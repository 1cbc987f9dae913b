// `fedpeer config check` reports every error in a file at once, points out
// keys that look like typos of fedpeer's, and prints JSON for a broken file
// too; `serve` warns about the typos when it starts.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import { startServer } from '../src/commands/serve.js';
import { diagnoseConfigFile, likelyTypos } from '../src/config/diagnose.js';
import { loadConfig } from '../src/config/load.js';
import { captureLogger } from './harness/server-fixture.js';
import { captureIO } from './harness/cli-io.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'fedpeer-diagnose-'));


t.test('typos: a fedpeer key a few letters off, never a Synapse key', async (t) => {
  t.same(likelyTypos(['ip_range_whitelst', 'worker_name', 'database', 'report_stats', 'server_name', 'totally_unrelated_key', 'tls_certificate_pth']), [
    { key: 'ip_range_whitelst', suggestion: 'ip_range_whitelist' },
    { key: 'tls_certificate_pth', suggestion: 'tls_certificate_path' },
  ]);
});

t.test('config check lists every error and the typos, in text and JSON', async (t) => {
  const dir = tmp();
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  const file = join(dir, 'hs.yaml');
  writeFileSync(
    file,
    `server_name: example.test
signing_key_path: signing.key
key_refresh_interval: true
listeners:
  - {port: nope, tls: false}
acme: {enabld: true}
ip_range_whitelst: ['127.0.0.1/32']
tls_certificates: [{certificate_path: missing.crt, private_key_path: missing.key}]
well_known_dir: no-such-dir
database: {name: sqlite3}
`,
  );
  let c = captureIO();
  t.equal(await main(['config', 'check', file], c.io), 1);
  const out = c.out();
  t.match(out, new RegExp(`^${file.replace(/[.]/g, '\\.')}: ERRORS \\(6\\)`));
  t.match(out, /^error: key_refresh_interval: expected a duration/m);
  t.match(out, /^error: listeners\[0\]\.port: expected an integer 1-65535, got "nope"/m);
  t.match(out, /^error: acme\.enabld: unknown key \(did you mean enabled\?\); expected one of/m);
  t.match(out, /^error: tls_certificates\[0\]\.certificate_path: file not found: .*missing\.crt$/m);
  t.match(out, /^error: tls_certificates\[0\]\.private_key_path: file not found: .*missing\.key$/m);
  t.match(out, /^error: well_known_dir: directory not found/m);
  t.match(out, /^warning: ip_range_whitelst: neither a fedpeer nor a Synapse key, so it is ignored; did you mean ip_range_whitelist\?$/m);
  t.notMatch(out, /database/, 'Synapse keys are not typos');
  c = captureIO();
  t.equal(await main(['config', 'check', '--json', file], c.io), 1);
  const j = JSON.parse(c.out());
  t.equal(j.ok, false);
  t.equal(j.server_name, null);
  t.equal(j.errors.length, 6);
  t.same(j.warnings, ['ip_range_whitelst: neither a fedpeer nor a Synapse key, so it is ignored; did you mean ip_range_whitelist?']);
});

t.test('a missing server_name does not hide the rest', async (t) => {
  const dir = tmp();
  const file = join(dir, 'hs.yaml');
  writeFileSync(file, `signing_key_path: signing.key\nkey_refresh_interval: forever\n`);
  const d = await diagnoseConfigFile(file);
  t.same(
    d.errors.map((e) => e.key),
    ['server_name', 'key_refresh_interval', 'signing_key_path'],
  );
  t.equal(d.config, undefined);
  writeFileSync(file, 'server_name: "not a name"\n');
  t.match((await diagnoseConfigFile(file)).errors.map((e) => e.message), [/^server_name: /]);
});

t.test('files that cannot be parsed: one error, JSON too', async (t) => {
  const dir = tmp();
  const cases: Array<[string, string, RegExp]> = [
    ['bad.yaml', 'server_name: [unclosed\n', /invalid YAML/],
    ['list.yaml', '- a\n- b\n', /expected a YAML mapping/],
  ];
  for (const [name, text, message] of cases) {
    writeFileSync(join(dir, name), text);
    const c = captureIO();
    t.equal(await main(['config', 'check', '--json', join(dir, name)], c.io), 1);
    const j = JSON.parse(c.out());
    t.equal(j.errors.length, 1);
    t.match(j.errors[0], message);
  }
  const c = captureIO();
  t.equal(await main(['config', 'check', join(dir, 'absent.yaml')], c.io), 1);
  t.match(c.out(), /: ERRORS \(1\)\nerror: config file not found: /);
});

t.test('a good file with a typo: OK, with the warning; an unreadable signing key is an error', async (t) => {
  const dir = tmp();
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  const file = join(dir, 'hs.yaml');
  writeFileSync(file, `server_name: example.test\nsigning_key_path: signing.key\nlisteners: []\ntrusted_key_server: []\n`);
  let c = captureIO();
  t.equal(await main(['config', 'check', file], c.io), 0);
  t.match(c.out(), /: OK/);
  t.match(c.out(), /^warning: trusted_key_server: neither a fedpeer nor a Synapse key, so it is ignored; did you mean trusted_key_servers\?$/m);
  c = captureIO();
  t.equal(await main(['config', 'check', '--json', file], c.io), 0);
  t.match(JSON.parse(c.out()), { ok: true, file, warnings: [/trusted_key_server/] });
  writeFileSync(join(dir, 'bad.key'), 'not a key\n');
  writeFileSync(file, `server_name: example.test\nsigning_key_path: bad.key\nlisteners: []\n`);
  c = captureIO();
  t.equal(await main(['config', 'check', file], c.io), 1);
  t.match(c.out(), /^error: .*bad\.key:1: unsupported algorithm "not", only ed25519$/m);
});

t.test('serve warns about typos at start-up', async (t) => {
  const dir = tmp();
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  const file = join(dir, 'hs.yaml');
  writeFileSync(file, `server_name: example.test\nsigning_key_path: signing.key\nlisteners: []\ndata_dir: data\nip_range_whitelst: ['10.0.0.0/8']\n`);
  const log = captureLogger('warn');
  const server = await startServer(await loadConfig(file), { logger: log.logger, watchCertificates: false });
  await server.close();
  log.logger.flush();
  t.match(log.lines(), [{ level: 40, key: 'ip_range_whitelst', suggestion: 'ip_range_whitelist', msg: /did you mean ip_range_whitelist\?/ }]);
});

t.test('config check takes the file as --config too, and says when none is given', async (t) => {
  const dir = tmp();
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  writeFileSync(join(dir, 'hs.yaml'), 'server_name: example.test\nsigning_key_path: signing.key\nlisteners: []\n');
  let c = captureIO();
  t.equal(await main(['config', 'check', '--config', join(dir, 'hs.yaml')], c.io), 0);
  t.match(c.out(), /: OK/);
  c = captureIO();
  t.equal(await main(['config', 'check'], c.io), 2);
  t.match(c.err(), /config check needs a file: fedpeer config check homeserver\.yaml/);
});
