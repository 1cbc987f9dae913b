// createLogger's fast access line must be exactly what pino writes for the
// same fields, so log tooling cannot tell the two apart.
import t from 'tap';
import { createLogger, formatMs, pinoAccessLog } from '../src/logger.js';

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
