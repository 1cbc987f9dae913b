// Checking received events, in this process on one core: 50-PDU
// transactions as JSON text go through parseEventJson, then each PDU through
// parsePdu (format checks, the event ID, one canonical JSON walk),
// verifyEventSignatures (one Ed25519 verification) and checkContentHash. The
// baselines, measured in the same run: Ed25519 verification alone over the
// same bytes (the floor no implementation goes under) and JSON.parse of the
// same texts. Room version 10 for the common case; room version 5 with floats
// in every event for the path that keeps Python's numbers.
import { createHash } from 'node:crypto';
import sodium from 'sodium-native';
import { generateSigningKey } from '../dist/matrix/signing-key.js';
import { decodeBase64 } from '../dist/matrix/base64.js';
import {
  buildPdu,
  checkContentHash,
  eventCanonicalJson,
  parseEventJson,
  parsePdu,
  redactPdu,
  roomVersion,
  signPdu,
  verifyEventSignatures,
} from '../dist/matrix/events/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TXNS = 40; // 2,000 PDUs
const key = generateSigningKey('bench');

function ref(v, i) {
  const h = createHash('sha256').update(String(i)).digest();
  return v.eventFormat === 1 ? { eventId: `$${i}:origin.test`, sha256: h.toString('base64') } : `$${h.toString('base64url')}`;
}

/** A mix like a busy room's: 70% messages (~300-byte bodies), 20% member events, 10% other state. */
function event(v, i, floats) {
  const kind = i % 10;
  const base = {
    roomId: '!room:origin.test',
    sender: `@user${i % 50}:origin.test`,
    prevEvents: [ref(v, i - 1)],
    authEvents: [ref(v, 0), ref(v, 1), ref(v, 2 + (i % 50))],
    depth: 100 + i,
    originServerTs: 1_700_000_000_000 + i,
    eventId: `$e${i}:origin.test`,
  };
  const extra = floats ? { weight: 0.5 + i, ratio: 1e-7 * i } : {};
  if (kind < 7) return { ...base, type: 'm.room.message', content: { msgtype: 'm.text', body: `message ${i} `.padEnd(300, 'lorem ipsum '), ...extra } };
  if (kind < 9) return { ...base, type: 'm.room.member', stateKey: base.sender, content: { membership: 'join', displayname: `User ${i % 50}`, avatar_url: 'mxc://origin.test/abc', ...extra } };
  return { ...base, type: 'm.room.topic', stateKey: '', content: { topic: `topic ${i}`, ...extra } };
}

function transactions(v, floats) {
  const txns = [];
  for (let t = 0; t < TXNS; t++) {
    const pdus = [];
    for (let j = 0; j < 50; j++) pdus.push(signPdu(buildPdu(event(v, t * 50 + j, floats), v), v, 'origin.test', key));
    txns.push(eventCanonicalJson({ origin: 'origin.test', origin_server_ts: 1, pdus }, false));
  }
  return txns;
}

/**
 * Runs the works in turn, one batch each, for SECONDS, timing each batch on
 * its own; returns items per second of each. Taking turns in short batches
 * puts whatever else the machine does on all of them alike, so their ratios
 * hold where each rate alone moves by 2x between rounds on a shared machine.
 */
function rates(works) {
  const ns = works.map(() => 0n);
  const items = works.map(() => 0);
  const end = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    works.forEach((work, i) => {
      const t = process.hrtime.bigint();
      items[i] += work();
      ns[i] += process.hrtime.bigint() - t;
    });
  }
  return items.map((n, i) => n / (Number(ns[i]) / 1e9));
}

const lookup = (server, keyId) => (server === 'origin.test' && keyId === key.keyId ? key.publicKey : undefined);

function checkAll(texts, v) {
  let n = 0;
  for (const text of texts) {
    for (const pdu of parseEventJson(text).pdus) {
      const ev = parsePdu(pdu, v);
      if (!verifyEventSignatures(ev, lookup).ok || !checkContentHash(ev.pdu)) throw new Error(`bench event ${ev.eventId} does not verify`);
      n++;
    }
  }
  return n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US');

export async function run() {
  const v10 = roomVersion('10');
  const v5 = roomVersion('5');
  const t10 = transactions(v10, false);
  const t5 = transactions(v5, true);
  const pduBytes = Math.round(t10.reduce((s, t) => s + Buffer.byteLength(t), 0) / (TXNS * 50));
  // The floor: one Ed25519 verification per PDU over its signed bytes, nothing else.
  const signed = t10.flatMap((t) => JSON.parse(t).pdus).map((p) => ({
    bytes: Buffer.from(eventCanonicalJson(Object.fromEntries(Object.entries(redactPdu(p, v10)).filter(([k]) => k !== 'signatures')), true)),
    sig: decodeBase64(p.signatures['origin.test'][key.keyId]),
  }));
  const rows = { floor: [], parse: [], v10: [], v5: [] };
  const batch = (txns) => txns.slice(0, 4); // 200 PDUs per turn
  const floorBatch = signed.slice(0, 200);
  for (let r = 0; r < ROUNDS; r++) {
    const [floor, parse, ours10, ours5] = rates([
      () => {
        // libsodium, as fedpeer's own verification since the switch to it.
        for (const s of floorBatch) if (!sodium.crypto_sign_verify_detached(s.sig, s.bytes, key.publicKey)) throw new Error('floor');
        return floorBatch.length;
      },
      () => batch(t10).reduce((n, t) => n + JSON.parse(t).pdus.length, 0),
      () => checkAll(batch(t10), v10),
      () => checkAll(batch(t5), v5),
    ]);
    rows.floor.push(floor);
    rows.parse.push(parse);
    rows.v10.push(ours10);
    rows.v5.push(ours5);
  }
  const m = Object.fromEntries(Object.entries(rows).map(([k, xs]) => [k, median(xs)]));
  // Per round: what one PDU costs us, in Ed25519 verifications.
  const ratio10 = median(rows.v10.map((x, i) => rows.floor[i] / x));
  const ratio5 = median(rows.v5.map((x, i) => rows.floor[i] / x));
  return {
    title: 'Received events checked per second (one core, in process)',
    table: [
      ['what', 'PDUs/s (median)', 'µs per PDU', 'cost in Ed25519 verifications (median of rounds)', 'rounds'],
      ['Ed25519 verify only (baseline: the floor)', fmt(m.floor), (1e6 / m.floor).toFixed(1), '1', rows.floor.map(fmt).join(' / ')],
      ['JSON.parse of the transactions only (baseline)', fmt(m.parse), (1e6 / m.parse).toFixed(1), median(rows.parse.map((x, i) => rows.floor[i] / x)).toFixed(3), rows.parse.map(fmt).join(' / ')],
      ['v10: parseEventJson + parsePdu + verifyEventSignatures + checkContentHash', fmt(m.v10), (1e6 / m.v10).toFixed(1), ratio10.toFixed(2), rows.v10.map(fmt).join(' / ')],
      ['v5 with floats: the same, numbers kept as Python reads them', fmt(m.v5), (1e6 / m.v5).toFixed(1), ratio5.toFixed(2), rows.v5.map(fmt).join(' / ')],
    ],
    notes: [
      `${TXNS} transactions of 50 signed PDUs each (70% m.room.message with ~300-byte bodies, 20% m.room.member, 10% m.room.topic), ${pduBytes} bytes per PDU on average; ${ROUNDS} rounds of ${SECONDS} s, in each the four take turns in batches of 200 PDUs (so other load falls on all alike); medians.`,
      `A PDU of room version 10 costs ${ratio10.toFixed(2)} Ed25519 verifications in all (${((ratio10 - 1) * 100).toFixed(0)}% on top of its one signature check), so one core checks PDUs at 1/${ratio10.toFixed(2)} of the rate it verifies signatures; auth rules and storage come on top in the room peer.`,
    ],
  };
}
