// A room peer in its own process for the rooms-send benchmark: started from
// the built library with the CA given in FEDPEER_BENCH_CA (a JSON file),
// creates a public room, prints `ready <serverName> <roomId>` on stderr, then
// answers `mem` (RSS and heap after a GC, MiB), `count <roomId>` and `du`
// (store size, KiB) on stdin, one line each.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startPeer } from '../dist/index.js';

const ca = JSON.parse(readFileSync(process.env.FEDPEER_BENCH_CA, 'utf8'));
const peer = await startPeer({ ca, bind: process.env.FEDPEER_BENCH_ADDRESS, users: { host: {} } });
const { roomId } = await peer.createRoom({ creator: `@host:${peer.serverName}` });
process.stderr.write(`ready ${peer.serverName} ${roomId}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ');
  // Timeline positions given out: cheap to read while the room grows (events() would parse the whole timeline).
  if (cmd === 'count') process.stdout.write(`${peer.rooms.data.room(arg).stream}\n`);
  else if (cmd === 'mem') {
    // After a full collection (the child runs with --expose-gc): what the heap really holds, and the resident set.
    globalThis.gc?.();
    const m = process.memoryUsage();
    process.stdout.write(`${(m.rss / 1048576).toFixed(1)} ${(m.heapUsed / 1048576).toFixed(1)}\n`);
  } else if (cmd === 'du') process.stdout.write(`${execFileSync('du', ['-sk', peer.dataDir], { encoding: 'utf8' }).split('\t')[0]}\n`);
  else if (cmd === 'quit') break;
}
await peer.close();
process.exit(0);
