// Generated events of every room version against an independent Python
// implementation (python3-canonicaljson, python3-signedjson, and the spec's
// redaction written again in Python in test/harness/python-oracle.ts):
// content hash, redacted form, reference hash, event ID and signature must
// agree byte for byte, and signedjson must verify what signPdu signed.
import t from 'tap';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { encodeBase64 } from '../src/matrix/base64.js';
import {
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  eventCanonicalJson,
  parseEventJson,
  parsePdu,
  redactPdu,
  roomVersion,
  signPdu,
  supportedRoomVersions,
  type Pdu,
} from '../src/matrix/events/index.js';
import { pyEvents } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { prng } from './harness/random-json.js';
import { randomEvents } from './harness/random-events.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
t.comment(`seed ${seed} (FEDPEER_SEED replays)`);
const PER_VERSION = 80;

t.test('every room version: hashes, redaction, IDs and signatures agree with the Python implementation', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const gen = randomEvents(prng(seed));
  const key = generateSigningKey('oracle');
  let compared = 0;
  for (const id of supportedRoomVersions()) {
    const version = roomVersion(id)!;
    const texts = Array.from({ length: PER_VERSION }, () => gen.event(version, !version.strictCanonicalJson));
    const ours = texts.map((text) => {
      const pdu = parseEventJson(text) as Pdu;
      const sender = pdu.sender as string;
      const server = sender.slice(sender.indexOf(':') + 1);
      const signed = signPdu(pdu, version, server, key);
      return { pdu, server, signed };
    });
    const results = pyEvents(
      id,
      ours.map((o, i) => ({ text: texts[i]!, serverName: o.server, ours: eventCanonicalJson(o.signed, false) })),
      { seed: encodeBase64(key.seed), keyVersion: key.version },
    );
    results.forEach((py, i) => {
      const { pdu, signed, server } = ours[i]!;
      const where = `v${id} event ${i}: ${texts[i]!.slice(0, 200)}`;
      const problems: string[] = [];
      if (computeContentHash(pdu) !== py.content_hash) problems.push('content hash');
      if (encodeBase64(computeReferenceHash(pdu, version)) !== py.reference_hash) problems.push('reference hash');
      if (computeEventId(pdu, version) !== py.event_id) problems.push('event ID');
      const redacted = eventCanonicalJson(redactPdu(pdu, version), false);
      if (redacted !== py.redacted) problems.push(`redacted form: ours ${redacted} python ${py.redacted}`);
      if ((signed.signatures as Record<string, Record<string, string>>)[server]![key.keyId] !== py.signature) problems.push('signature');
      if (py.ours_verify !== true) problems.push('signedjson does not verify our signature');
      // A fresh parse (parsePdu freezes its input and keeps what it computed) gives the same ID and hash.
      const parsed = parsePdu(parseEventJson(texts[i]!), version);
      if (parsed.eventId !== py.event_id) problems.push('parsePdu event ID');
      if (computeContentHash(parsed.pdu) !== py.content_hash) problems.push('cached content hash');
      if (problems.length) t.fail(`${where}: ${problems.join(', ')}`);
      compared++;
    });
  }
  t.equal(compared, PER_VERSION * supportedRoomVersions().length, `${compared} events compared`);
});
