// `import { startPeer } from 'fedpeer'` from another project, through real
// package resolution: a temporary project installs this package from its
// path (npm links it), imports it from JavaScript, and type-checks a
// TypeScript use of it against the published declarations. Needs the build
// (npm test builds first).
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'fedpeer-consumer-'));
writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

t.before(async () => {
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', root], { cwd: project, timeout: 240_000 });
});

t.test('JavaScript: two peers federate through the package', async (t) => {
  writeFileSync(
    join(project, 'two-peers.mjs'),
    `import { startPeer, createDevCa } from 'fedpeer';
const ca = await createDevCa();
const a = await startPeer({ ca, bind: '127.86.1.1', users: { alice: { displayname: 'Alice' } } });
const b = await startPeer({ ca, bind: '127.86.1.2', users: { bob: {} } });
try {
  const alice = '@alice:' + a.serverName, bob = '@bob:' + b.serverName;
  const { roomId } = await a.createRoom({ creator: alice, alias: 'lib' });
  b.hooks.onSend = (req) => { seen.push(req.origin); };
  const seen = [];
  await b.join(bob, '#lib:' + a.serverName);
  const sent = await a.send(alice, roomId, 'hi from the library');
  const got = await b.waitForEvent(roomId, (e) => e.eventId === sent.eventId, { timeout: 5000 });
  a.hooks.onMakeJoin = () => ({ reject: { status: 403, errcode: 'M_FORBIDDEN', error: 'closed' } });
  const closed = await a.createRoom({ creator: alice });
  const refused = await b.join(bob, closed.roomId).catch((e) => e.message);
  console.log(JSON.stringify({ body: got.content.body, origins: [...new Set(seen)], a: a.serverName, refused }));
} finally {
  await a.close();
  await b.close();
}
`,
  );
  const { stdout } = await run(process.execPath, ['two-peers.mjs'], { cwd: project, timeout: 60_000 });
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { body: string; origins: string[]; a: string; refused: string };
  t.equal(out.body, 'hi from the library');
  t.same(out.origins, [out.a], 'a hook saw the transactions from A');
  t.match(out.refused, /closed/, 'a hook refused the join');
});

t.test('TypeScript: the declarations type-check a consumer', async (t) => {
  writeFileSync(
    join(project, 'use.ts'),
    `import { startPeer, type Peer, type TimelineEvent, type HookDecision } from 'fedpeer';
const peer: Peer = await startPeer({ port: 0, bind: '127.86.2.1', users: { alice: {} } });
const decision: HookDecision = { delayMs: 10 };
peer.hooks.onMakeJoin = () => decision;
const events: TimelineEvent[] = peer.events('!r:x');
const n: number = events.length;
// @ts-expect-error: createRoom needs a creator
await peer.createRoom({});
await peer.close();
export { n };
`,
  );
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['use.ts'] }));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, timeout: 120_000 }).then(
    () => ({ code: 0, out: '' }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
  t.equal(r.code, 0, r.out);
});
