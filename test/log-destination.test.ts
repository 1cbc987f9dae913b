// The log destination against real file descriptors: a file, a full
// non-blocking FIFO (EAGAIN), and an fd that cannot be written (EBADF).
import t from 'tap';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogDestination } from '../src/log-destination.js';

const dir = mkdtempSync(join(tmpdir(), 'fedpeer-logdest-'));
const line = (i: number) => `{"n":${i},"pad":"${'x'.repeat(40)}"}\n`;

t.test('lines are gathered, written in order, and flushed on request', async (t) => {
  const file = join(dir, 'order.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { minLength: 1000, flushIntervalMs: 0 });
  for (let i = 0; i < 10; i++) dest.write(line(i));
  t.equal(readFileSync(file, 'utf8'), '', 'below minLength nothing is written yet');
  for (let i = 10; i < 100; i++) dest.write(line(i));
  const partial = readFileSync(file, 'utf8');
  t.ok(partial.length >= 1000, 'a chunk is written once minLength is gathered');
  t.ok(partial.endsWith('\n'), 'chunks end on a line boundary');
  await new Promise<void>((resolve) => dest.flush(() => resolve()));
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  t.same(lines.map((l) => JSON.parse(l).n), [...Array(100).keys()], 'every line once, in order');
  dest.flush(); // nothing gathered: a no-op
  dest.end();
  closeSync(fd);
});

t.test('a quiet server\'s lines are written by the periodic flush', async (t) => {
  const file = join(dir, 'periodic.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { flushIntervalMs: 20 });
  dest.write(line(1));
  t.equal(readFileSync(file, 'utf8'), '');
  for (let i = 0; i < 50 && readFileSync(file, 'utf8') === ''; i++) await sleep(10);
  t.equal(readFileSync(file, 'utf8'), line(1), 'written without any further line');
  dest.end();
  closeSync(fd);
});

t.test('flushSync writes what is gathered at once (process exit)', async (t) => {
  const file = join(dir, 'sync.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { flushIntervalMs: 0 });
  dest.write(line(1));
  dest.write('{"text":"é ∑ 😀"}\n');
  dest.flushSync();
  t.equal(readFileSync(file, 'utf8'), line(1) + '{"text":"é ∑ 😀"}\n', 'UTF-8 text intact');
  dest.flushSync();
  closeSync(fd);
});

t.test('gatherers hand over their lines at every write of what is gathered', async (t) => {
  const file = join(dir, 'gather.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { minLength: 500, flushIntervalMs: 20 });
  let kept: number[] = [];
  dest.addGatherer(() => {
    if (kept.length === 0) return;
    const text = kept.map(line).join('');
    const n = kept.length;
    kept = [];
    dest.write(text, n);
  });
  const written = () => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).n as number);

  dest.write(line(0));
  kept = [...Array(20).keys()].map((i) => i + 1); // more than a chunk by themselves
  await new Promise<void>((resolve) => dest.flush(() => resolve()));
  t.same(written(), [...Array(21).keys()], 'flush(): the gatherer\'s lines after those written before, all in one drain');

  kept = [21];
  for (let i = 0; i < 50 && !written().includes(21); i++) await sleep(10);
  t.same(written().slice(21), [21], 'the periodic flush asks the gatherer too');

  kept = [22];
  for (let n = 23; n < 100 && written().length < 23; n++) dest.write(line(n));
  t.ok(written().includes(22), 'a full chunk takes the gatherer\'s lines with it');

  kept = [99];
  dest.flushSync();
  t.equal(written().at(-1), 99, 'and so does flushSync (process exit)');
  dest.end();
  closeSync(fd);
});

t.test('a text of several lines that does not fit is counted as that many dropped lines', async (t) => {
  const file = join(dir, 'dropped-batch.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { minLength: 10_000, maxPending: 100, flushIntervalMs: 0 });
  t.equal(dest.write(line(1).repeat(5), 5), false);
  t.equal(dest.dropped, 5);
  dest.flushSync();
  t.match(readFileSync(file, 'utf8'), /"dropped":5,/);
  closeSync(fd);
});

for (const async of [true, false]) t.test(`a full pipe is retried, lines beyond maxPending are dropped and counted (${async ? 'asynchronous, as for pipes' : 'synchronous'} writes)`, async (t) => {
  const fifo = join(dir, `fifo-${async}`);
  const r = spawnSync('mkfifo', [fifo]);
  if (r.status !== 0) {
    t.fail(`mkfifo failed: ${r.stderr}`);
    return;
  }
  // The reader end first (non-blocking), then a non-blocking writer: once the
  // pipe buffer is full, writes fail with EAGAIN as on a slow log collector.
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const dest = createLogDestination(writer, { minLength: 1, flushIntervalMs: 0, maxPending: 200_000, retryMs: 5, async });
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    if (dest.write(line(i))) accepted++;
    else refused++;
  }
  t.ok(refused > 0, `lines beyond maxPending are refused (${refused})`);
  t.equal(dest.dropped, refused, 'and counted');
  let flushed = false;
  dest.flush(() => (flushed = true));
  t.notOk(flushed, 'flush waits while the pipe is full');
  // Drain the pipe as a slow reader would, until the destination is done.
  let text = '';
  const buf = Buffer.alloc(65536);
  for (let i = 0; i < 2000 && !flushed; i++) {
    try {
      const n = readSync(reader, buf, 0, buf.length, null);
      text += buf.subarray(0, n).toString();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(2);
    }
  }
  for (;;) {
    try {
      const n = readSync(reader, buf, 0, buf.length, null);
      if (n === 0) break;
      text += buf.subarray(0, n).toString();
    } catch {
      break;
    }
  }
  t.ok(flushed, 'the flush callback ran once everything was written');
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const numbered = lines.filter((l) => typeof l.n === 'number').map((l) => l.n);
  t.equal(numbered.length, accepted, 'every accepted line arrived');
  t.same(numbered, [...Array(accepted).keys()], 'in order, none twice');
  const notice = lines.find((l) => l.dropped !== undefined);
  t.match(notice, { level: 40, dropped: refused, msg: /log lines dropped/ }, 'the loss is reported in the log itself');
  t.equal(dest.dropped, 0);
  closeSync(writer);
  closeSync(reader);
});

t.test('an output that cannot be written is reported once and the server goes on', async (t) => {
  const file = join(dir, 'readonly.log');
  writeFileSync(file, '');
  const fd = openSync(file, 'r');
  const reports: Error[] = [];
  const dest = createLogDestination(fd, { minLength: 1, flushIntervalMs: 0, onBroken: (e) => reports.push(e) });
  t.doesNotThrow(() => dest.write(line(1)));
  t.doesNotThrow(() => dest.write(line(2)));
  let err: Error | undefined;
  dest.flush((e) => (err = e));
  t.equal(reports.length, 1, 'one report');
  t.match(reports[0], { code: 'EBADF' });
  t.equal(err, undefined, 'later flushes find nothing to write');
  dest.flushSync();
  t.equal(readFileSync(file, 'utf8'), '');
  closeSync(fd);
});

t.test('the default report of a broken output goes to stderr', async (t) => {
  const script = `
    import { openSync } from 'node:fs';
    import { createLogDestination } from ${JSON.stringify(new URL('../dist/log-destination.js', import.meta.url).href)};
    const dest = createLogDestination(openSync(process.execPath, 'r'), { minLength: 1, flushIntervalMs: 0 });
    dest.write('{"a":1}\\n');
    dest.write('{"a":2}\\n');
    console.log('still running');
  `;
  // The built module (npm test builds first), in a process of its own, so the report lands on a stderr we can read.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(r.stdout.trim(), 'still running');
  t.equal(r.stderr.match(/fedpeer: log output failed \(EBADF.*\); further log lines are discarded/g)?.length, 1, r.stderr);
});

t.test('pipes and sockets are written asynchronously, files synchronously', async (t) => {
  const fifo = join(dir, 'fifo-default');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const pipe = createLogDestination(writer, { minLength: 1, flushIntervalMs: 0 });
  pipe.write(line(1));
  let flushed = false;
  const done = new Promise<void>((resolve) =>
    pipe.flush(() => {
      flushed = true;
      resolve();
    }),
  );
  t.notOk(flushed, 'the write is under way in the thread pool when write() returns');
  await done;
  const buf = Buffer.alloc(1024);
  t.equal(buf.subarray(0, readSync(reader, buf, 0, buf.length, null)).toString(), line(1));
  closeSync(writer);
  closeSync(reader);
  const file = join(dir, 'default.log');
  const fd = openSync(file, 'w');
  const dest = createLogDestination(fd, { minLength: 1, flushIntervalMs: 0 });
  dest.write(line(2));
  t.equal(readFileSync(file, 'utf8'), line(2), 'written before write() returns');
  closeSync(fd);
});
