// The room store is opened when rooms are used, not by a listener that
// only serves keys and queries; a store that exists is opened at start.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { startFixture } from './harness/server-fixture.js';
import { startServer } from '../src/commands/serve.js';
import { openRoomStore } from '../src/rooms/store.js';
import { captureLogger } from './harness/server-fixture.js';
import { block } from './harness/addresses.js';

const ip = block('lazy-rooms');

function getStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

t.test('a listener that serves no room request never opens (or creates) the room store', async (t) => {
  const f = await startFixture({ address: ip(1, 1), serverName: 'lazy.test', certNames: ['lazy.test', ip(1, 1)] });
  const store = join(f.config.dataDir, 'rooms');
  t.equal(await getStatus(`https://${ip(1, 1)}:8448/_matrix/key/v2/server`, f.pki.root.certPem), 200);
  t.notOk(existsSync(store), 'no store after start and a key request');
  await f.close();
  t.notOk(existsSync(store), 'closing does not open it either');
});

t.test('the first use of rooms opens the store; a later start opens the existing store at once', async (t) => {
  const f = await startFixture({ address: ip(1, 2), serverName: 'lazy2.test', certNames: ['lazy2.test'], raw: { test_users: { '@alice:lazy2.test': {} } } });
  const store = join(f.config.dataDir, 'rooms');
  t.same(f.server.rooms.rooms(), [], 'rooms answer through the lazy peer');
  t.ok(existsSync(store), 'the store was created on first use');
  const { roomId } = await f.server.rooms.createRoom({ creator: '@alice:lazy2.test' });
  await f.close();
  const again = await startServer(f.config, { logger: captureLogger().logger });
  t.same(again.rooms.rooms(), [roomId], 'the room is still there after a restart');
  await again.close(1000);
});

t.test('a store that exists but cannot be read fails the start with the store named', async (t) => {
  const f = await startFixture({ address: ip(1, 3), serverName: 'lazy3.test', certNames: ['lazy3.test'] });
  await f.close();
  const old = openRoomStore(join(f.config.dataDir, 'rooms'));
  old.meta.put('schema', 99);
  await old.close();
  const started = startServer(f.config, { logger: captureLogger().logger });
  t.teardown(async () => (await started.catch(() => undefined))?.close(1000));
  await t.rejects(started, { message: /room store in .*rooms has schema 99/ });
});
