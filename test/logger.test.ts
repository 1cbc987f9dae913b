// createLogger's fast access line must be exactly what pino writes for the
// same fields, so log tooling cannot tell the two apart.
import t from 'tap';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogDestination } from '../src/log-destination.js';
import { createLogger, formatMs, pinoAccessLog } from '../src/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'fedpeer-logger-'));

function capture(level: string) {
  const lines: string[] = [];
  const made = createLogger(level, {
    write(line) {
      lines.push(line);
      return true;
    },
  });
  return { ...made, lines };
}

const CASES: Array<[string, string, string | null, number, number]> = [
  ['req-1', 'GET', '/_matrix/key/v2/server', 200, 0.17],
  ['req-zz', 'POST', '/_matrix/key/v2/query', 429, 12],
  ['req-2', 'GET', null, 404, 0],
  ['req-3', 'PUT', '/_matrix/federation/v1/send/:txnId', 405, 1.5],
  ['odd "id"\\', 'GET', 'route with "quotes", \\ \n \u0001 \u2028 é 😀', 500, 123.45],
];

t.test('access lines are byte-identical to pino\'s own, apart from the time', async (t) => {
  const { logger, accessLog, lines } = capture('info');
  const viaPino = pinoAccessLog(logger);
  for (const c of CASES) {
    accessLog(...c);
    viaPino(...c);
  }
  t.equal(lines.length, CASES.length * 2);
  for (let i = 0; i < lines.length; i += 2) {
    const fast = lines[i]!.replace(/"time":\d+/, '"time":0');
    const pino = lines[i + 1]!.replace(/"time":\d+/, '"time":0');
    t.equal(fast, pino, `case ${i / 2}`);
    t.match(JSON.parse(lines[i]!), { level: 30, pid: process.pid, msg: 'request' });
  }
});

t.test('to a real destination, access lines are formatted in batches: same bytes, same order, none held back', async (t) => {
  const file = join(dir, 'batched.log');
  const fd = openSync(file, 'w');
  // minLength 1: every text the logger hands over is written at once, so the file shows when it does.
  const destination = createLogDestination(fd, { minLength: 1, flushIntervalMs: 20 });
  const { logger, accessLog } = createLogger('info', destination);
  const read = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);

  for (let i = 0; i < 127; i++) accessLog(`req-${i}`, 'GET', '/x', 200, 1);
  t.equal(read().length, 0, 'a batch is kept until it is full');
  accessLog('req-127', 'GET', '/x', 200, 1);
  t.equal(read().length, 128, 'a full batch is written');

  accessLog('req-a', 'GET', '/x', 200, 1);
  logger.warn({ step: 2 }, 'between requests');
  accessLog('req-b', 'GET', '/x', 200, 1);
  t.same(read().slice(128).map((l) => JSON.parse(l).reqId ?? JSON.parse(l).msg), ['req-a', 'between requests'], 'another line first writes the access lines recorded before it');
  for (let i = 0; i < 50 && read().length < 131; i++) await sleep(10);
  t.equal(JSON.parse(read()[130]!).reqId, 'req-b', 'the periodic flush writes a batch that is not full');

  const before = read().length;
  for (const c of CASES) accessLog(...c);
  const viaPino = pinoAccessLog(logger);
  for (const c of CASES) viaPino(...c);
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  const lines = read().slice(before).map((l) => l.replace(/"time":\d+/, '"time":0'));
  t.equal(lines.length, CASES.length * 2);
  for (let i = 0; i < CASES.length; i++) t.equal(lines[i], lines[i + CASES.length], `case ${i}: byte-identical to pino's line`);
  destination.end();
  closeSync(fd);
});

t.test('a batched line keeps the time of its request, not of its formatting', async (t) => {
  const file = join(dir, 'time.log');
  const fd = openSync(file, 'w');
  const destination = createLogDestination(fd, { flushIntervalMs: 0 });
  const { accessLog } = createLogger('info', destination);
  const at = Date.now();
  accessLog('req-1', 'GET', '/x', 200, 1);
  await sleep(30);
  destination.flushSync();
  const { time } = JSON.parse(readFileSync(file, 'utf8')) as { time: number };
  t.ok(time >= at && time < at + 20, `${time - at} ms after the request`);
  closeSync(fd);
});

t.test('durations are written as JSON writes them', async (t) => {
  let wrong = 0;
  // Every duration in hundredths up to 2000 s, as the servers round them.
  for (let h = 0; h <= 200_000; h++) if (formatMs(h / 100) !== JSON.stringify(h / 100)) wrong++;
  t.equal(wrong, 0, 'all hundredths');
  for (const ms of [0.123, 1e-7, 0.005, 12345678.9, 2 ** 31, 1e21, -1, -0.5, NaN, Infinity]) {
    t.equal(formatMs(ms), JSON.stringify(ms), String(ms));
  }
  // And across a millisecond boundary the time part is rebuilt.
  const { accessLog, lines } = capture('info');
  accessLog('req-1', 'GET', '/x', 200, 1);
  await new Promise((r) => setTimeout(r, 3));
  accessLog('req-2', 'GET', '/x', 200, 1);
  const [a, b] = lines.map((l) => JSON.parse(l) as { time: number });
  t.ok(b!.time > a!.time, 'a later time on the later line');
});

t.test('access lines follow the level', async (t) => {
  const warn = capture('warn');
  warn.accessLog('req-1', 'GET', '/x', 200, 1);
  t.same(warn.lines, [], 'nothing below the level');
  warn.logger.level = 'debug';
  warn.accessLog('req-2', 'GET', '/x', 200, 1);
  t.equal(warn.lines.length, 1, 'a level change takes effect at once');
  const silent = capture('silent');
  silent.accessLog('req-1', 'GET', '/x', 200, 1);
  t.same(silent.lines, []);
});

t.test('the logger flushes through its destination', async (t) => {
  let flushed = false;
  const { logger } = createLogger('info', {
    write: () => true,
    flush(cb) {
      flushed = true;
      cb?.();
    },
  });
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  t.ok(flushed);
});

t.test('lines still gathered when the process dies are written on exit', async (t) => {
  const { spawnSync } = await import('node:child_process');
  // The built module (npm test builds first) in a process of its own: stdout is a pipe here, as under a supervisor.
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('../dist/logger.js', import.meta.url).href)};
    const { logger, accessLog } = createLogger('info');
    logger.info({ step: 1 }, 'before the crash');
    accessLog('req-1', 'GET', '/x', 200, 1);
    setTimeout(() => { throw new Error('boom'); }, 5);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.not(r.status, 0, 'the process failed');
  t.match(r.stderr, /boom/);
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines, [{ msg: 'before the crash', step: 1 }, { msg: 'request', reqId: 'req-1' }], 'both lines written');
});
