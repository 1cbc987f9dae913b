// Rooms: (1) PDUs a room peer accepts per second through PUT /send, in
// 50-PDU transactions of valid message events from a second peer (format,
// signatures, content hashes and auth all checked, one transaction in flight
// as a sending server keeps it), and per second of the receiver's CPU; beside
// it the bare rate this machine verifies the signatures of the same PDUs at.
// (2) Events per second a local user sends to one remote server (built,
// signed, stored, queued, delivered), beside the bare signing rate.
// (3) The receiver's resident memory and store size per 10,000 stored events.
// Everything on loopback (127.84.x.x); the receiver is a child process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { startPeer, createDevCa } from '../dist/index.js';
import { parsePdu, verifyEventSignatures, signPdu } from '../dist/matrix/events/index.js';
import { roomVersion } from '../dist/matrix/events/room-versions.js';
import { cpuMs } from './lib.mjs';

const TXNS = Number(process.env.BENCH_ROOM_TXNS ?? 200); // 200 x 50 = 10,000 events
const LOCAL_EVENTS = Number(process.env.BENCH_LOCAL_EVENTS ?? 1000);

function startReceiver(caFile, address) {
  const pin = process.env.BENCH_SERVER_CPU;
  // BENCH_PROFILE_DIR: a CPU profile of the receiver is written there.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const args = ['--expose-gc', ...profile, new URL('./rooms-peer-child.mjs', import.meta.url).pathname];
  const [cmd, argv] = pin && existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', ['-c', pin, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv, { env: { ...process.env, FEDPEER_BENCH_CA: caFile, FEDPEER_BENCH_ADDRESS: address }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const answers = [];
  let waiting;
  lines.on('line', (l) => (waiting ? (waiting(l), (waiting = undefined)) : answers.push(l)));
  const ask = (q) =>
    new Promise((resolve) => {
      waiting = resolve;
      child.stdin.write(`${q}\n`);
    });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /ready (\S+) (\S+)/.exec(err);
      if (m) resolve({ child, pid: child.pid, serverName: m[1], roomId: m[2], ask });
    });
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}: ${err}`)));
  });
}

function rate(n, ms) {
  return Math.round((n / ms) * 1000);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-rooms-'));
  const ca = await createDevCa();
  const caFile = join(dir, 'ca.json');
  writeFileSync(caFile, JSON.stringify(ca));
  const receiver = await startReceiver(caFile, '127.84.0.1');
  const sender = await startPeer({ ca, bind: '127.84.0.2', users: { load: {} } });
  try {
    const user = `@load:${sender.serverName}`;
    const { eventId: joinId } = await sender.join(user, receiver.roomId);
    const state = sender.state(receiver.roomId);
    const auth = ['m.room.create', 'm.room.power_levels'].map((t) => state.find((s) => s.type === t).eventId);
    auth.push(joinId);
    let prev = joinId;
    let depth = sender.events(receiver.roomId).at(-1).depth;
    // Every event built and signed beforehand: the measurement is the receiver's work.
    const txns = [];
    for (let i = 0; i < TXNS; i++) {
      const pdus = [];
      for (let j = 0; j < 50; j++) {
        const e = sender.buildEvent({ roomId: receiver.roomId, sender: user, type: 'm.room.message', content: { msgtype: 'm.text', body: `message ${i}.${j}` }, prevEvents: [prev], authEvents: auth, depth: ++depth });
        pdus.push(e.pdu);
        prev = e.eventId;
      }
      txns.push(pdus);
    }
    const version = roomVersion('10');
    // Baseline: verifying the same PDUs' signatures (parse, redact, canonical JSON, Ed25519) in this process.
    const sample = txns.slice(0, 20).flat();
    const pub = (await import('../dist/matrix/signing-key.js')).parseSigningKeys((await import('node:fs')).readFileSync(join(sender.dataDir, 'signing.key'), 'utf8'))[0].publicKey;
    const t0 = performance.now();
    for (const pdu of sample) {
      const ok = verifyEventSignatures(parsePdu(structuredClone(pdu), version), () => pub);
      if (!ok.ok) throw new Error(ok.reason);
    }
    const verifyRate = rate(sample.length, performance.now() - t0);

    const [rssBefore, heapBefore] = (await receiver.ask('mem')).split(' ').map(Number);
    const countBefore = Number(await receiver.ask(`count ${receiver.roomId}`));
    const duBefore = Number(await receiver.ask('du'));
    const cpu0 = cpuMs(receiver.pid);
    const s0 = performance.now();
    let errors = 0;
    for (const [i, pdus] of txns.entries()) {
      const r = await sender.sendTransaction(receiver.serverName, { pdus, txnId: `bench-${i}` });
      if (r.status !== 200) throw new Error(`transaction ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      errors += Object.values(r.body.pdus).filter((x) => x.error).length;
    }
    const sendMs = performance.now() - s0;
    const cpu = cpuMs(receiver.pid) - cpu0;
    const accepted = TXNS * 50 - errors;
    const count = Number(await receiver.ask(`count ${receiver.roomId}`));
    if (errors > 0 || count - countBefore < accepted) throw new Error(`${errors} PDUs refused, ${count} in the timeline`);
    const [rssAfter, heapAfter] = (await receiver.ask('mem')).split(' ').map(Number);
    const duAfter = Number(await receiver.ask('du'));

    // Local sends to one remote server: the sender's user speaks, the receiver must have them all.
    const sign0 = performance.now();
    const probe = txns[0][0];
    const key2 = (await import('../dist/matrix/signing-key.js')).generateSigningKey();
    for (let i = 0; i < 500; i++) signPdu({ ...probe, content: { body: `${i}` } }, version, 'bench', key2);
    const signRate = rate(500, performance.now() - sign0);
    const l0 = performance.now();
    for (let i = 0; i < LOCAL_EVENTS; i++) await sender.send(user, receiver.roomId, `local ${i}`);
    const queuedMs = performance.now() - l0;
    const expect = count + LOCAL_EVENTS;
    while (Number(await receiver.ask(`count ${receiver.roomId}`)) < expect) await new Promise((r) => setTimeout(r, 20));
    const deliveredMs = performance.now() - l0;

    const per10k = (x) => Math.round((x * 10_000) / accepted * 10) / 10;
    return {
      title: 'Rooms: /send, local sends, memory',
      table: [
        ['measure', 'fedpeer', 'baseline (same run)'],
        [`PDUs accepted per second through /send (${TXNS} transactions of 50, one in flight)`, `${rate(accepted, sendMs)}/s`, `signature checks alone: ${verifyRate}/s`],
        ['PDUs accepted per second of receiver CPU (one core)', `${rate(accepted, cpu)}/s`, `receiver CPU ${Math.round(cpu)} ms for ${accepted} PDUs`],
        [`events a local user sends to one remote server (${LOCAL_EVENTS}, stored, queued, delivered)`, `${rate(LOCAL_EVENTS, deliveredMs)}/s delivered (${rate(LOCAL_EVENTS, queuedMs)}/s sent)`, `signing alone: ${signRate}/s`],
        ['receiver resident memory per 10,000 stored events (after a full GC)', `${per10k(rssAfter - rssBefore)} MiB RSS, ${per10k(heapAfter - heapBefore)} MiB V8 heap`, `idle with one room: ${rssBefore} MiB RSS, ${heapBefore} MiB heap`],
        ['room store on disk per 10,000 stored events', `${per10k((duAfter - duBefore) / 1024)} MiB`, `before: ${Math.round(duBefore / 1024 * 10) / 10} MiB`],
      ],
      notes: [
        'Events are m.room.message in room version 10, each naming the previous one as prev_event (no forks), built and signed before the clock starts.',
        'The receiver is a child process started from the built library (dist/index.js); the sender is this process.',
      ],
    };
  } finally {
    const exited = once(receiver.child, 'exit');
    receiver.child.stdin.end('quit\n');
    await exited;
    await sender.close();
  }
}
