#!/usr/bin/env node
// pretest: make sure the outside tools the tests use are on the machine.
// As root with apt-get it installs what is missing; otherwise it names what
// is missing and how to install it. Under CI=true a tool still missing fails
// the run here, with the reason, instead of surfacing later as test failures.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PYTHON = process.env.FEDPEER_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

// Debian package -> how to tell it is usable.
const TOOLS = [
  { pkg: 'python3-canonicaljson', ok: () => run(PYTHON, ['-c', 'import canonicaljson']) },
  { pkg: 'python3-signedjson', ok: () => run(PYTHON, ['-c', 'import signedjson.key, signedjson.sign']) },
  { pkg: 'python3-nacl', ok: () => run(PYTHON, ['-c', 'import nacl.signing']) },
  // The ACME test server for test/acme.test.ts; `-h` exits 0 only when the binary runs.
  { pkg: 'pebble', ok: () => run('pebble', ['-h']) },
  // The check page's browser test drives Debian's chromium through playwright-core; no browser is ever downloaded.
  { pkg: 'chromium', ok: () => run('/usr/bin/chromium', ['--version']) },
  // An independent SOCKS5 server for the federation routes tests (test/socks.test.ts).
  { pkg: 'microsocks', ok: () => run('sh', ['-c', 'command -v microsocks']) },
];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

const missing = () => TOOLS.filter((t) => !t.ok()).map((t) => t.pkg);

let need = missing();
if (need.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const haveApt = run('sh', ['-c', 'command -v apt-get']);
if (isRoot && haveApt) {
  console.error(`ensure-test-tools: installing ${need.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...need], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...need], { stdio: 'inherit', env });
  }
  need = missing();
}
if (need.length === 0) process.exit(0);

const msg = `ensure-test-tools: missing ${need.join(', ')}; install with: sudo apt-get install ${need.join(' ')}`;
if (process.env.CI) {
  console.error(`${msg}\nCI=true: refusing to run the tests without them.`);
  process.exit(1);
}
console.error(`${msg}\nTests that need them will be skipped with a notice.`);
