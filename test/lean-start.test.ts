// `fedpeer serve` holds V8's young-generation growth and TurboFan off while
// it starts (src/lean-start.ts) and gives them back once it serves. Seen from
// outside through V8's own traces: no function is optimised before the
// listener is up, and the request path is optimised once requests come.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as https from 'node:https';
import { block } from './harness/addresses.js';
import { makeTestPki } from './harness/test-ca.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { leanStartFlags } from '../src/lean-start.js';

const CLI = realpathSync(new URL('../dist/cli.js', import.meta.url).pathname);

t.test('held only for `fedpeer serve` itself, and never a flag the operator gave', async (t) => {
  const mine = realpathSync(new URL('../src/cli.ts', import.meta.url).pathname);
  t.same(leanStartFlags(['node', mine, 'serve'], ''), ['--semi-space-growth-factor=1', '--no-turbofan'], 'the CLI entry serving');
  t.same(leanStartFlags(['node', mine, 'check', 'example.org'], ''), [], 'another command');
  t.same(leanStartFlags(['node', '/elsewhere/test.js', 'serve'], ''), [], 'a process importing the CLI');
  t.same(leanStartFlags(['node'], ''), [], 'no script');
  t.same(leanStartFlags(['node', '/no/such/file.js', 'serve'], ''), [], 'an entry that cannot be resolved');
  t.same(leanStartFlags(['node', mine, 'serve'], '--max-semi-space-size=4'), ['--no-turbofan'], 'the young generation set by the operator');
  t.same(leanStartFlags(['node', mine, 'serve'], '--no-opt --enable-source-maps'), ['--semi-space-growth-factor=1'], 'TurboFan set by the operator');
  t.same(leanStartFlags(['node', mine, 'serve'], '--jitless --semi-space-growth-factor=3'), [], 'both');
  t.same(leanStartFlags(['node', mine, 'serve'], '--trace-opt --trace-gc'), ['--semi-space-growth-factor=1', '--no-turbofan'], 'tracing is not setting');
});

t.test('the built CLI optimises nothing while it starts, and the request path once it serves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-lean-'));
  const address = block('lean-start')(1, 1);
  const pki = await makeTestPki();
  const leaf = await pki.leaf([address]);
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]));
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    `server_name: lean.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
data_dir: data
listeners:
  - {port: 8448, bind_addresses: ['${address}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
`,
  );
  // V8 writes its traces to stdout, interleaved with fedpeer's log lines.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--trace-opt', CLI, 'serve', '--config', join(dir, 'homeserver.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/fedpeer: serving/.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  // fedpeer logs "fedpeer started" on stdout just before it binds: every trace line before it is start-up's.
  await new Promise((r) => setTimeout(r, 200));
  const startUp = stdout.slice(0, stdout.indexOf('"msg":"fedpeer started"'));
  t.ok(startUp.length > 0, 'the start-up log line is there');
  t.equal((startUp.match(/completed optimizing/g) ?? []).length, 0, 'nothing optimised while starting');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const get = () =>
    new Promise<void>((resolve, reject) => {
      https.get({ host: address, port: 8448, path: '/_matrix/federation/v1/version', ca: pki.root.certPem, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
  for (let i = 0; i < 3000 && !/completed optimizing/.test(stdout.slice(startUp.length)); i++) await get();
  t.match(stdout.slice(startUp.length), /completed optimizing/, 'once serving, hot functions are optimised again');
});
