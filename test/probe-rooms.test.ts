import t from 'tap';
import { probeWorld } from './harness/probe-world.js';

const world = await probeWorld('probe-rooms');
t.teardown(() => world.close());
const target = await world.startTarget('target.test', 2, { test_users: { '@host:target.test': {} } });
t.teardown(() => target.close());
await target.server.rooms.createRoom({ creator: '@host:target.test', alias: 'probe', joinRule: 'public' });

t.test('rooms against fedpeer', async (t) => {
  const { code, report } = await world.probeJson('target.test', ['--only', 'rooms', '--room', '#probe:target.test']);
  for (const c of report.checks) t.equal(c.verdict, 'pass', `${c.id}: ${c.reason}`);
  t.equal(code, 0);
});
