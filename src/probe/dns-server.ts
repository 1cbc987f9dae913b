// The probe's own DNS server (optional, --dns-listen): it answers A and
// AAAA for the probe's host names (its own, the one its well-known delegates
// to) with the probe's listener addresses and
// NXDOMAIN for everything else, and records every question. A target whose
// resolver is pointed at it shows which names it looked up, in which order:
// the _matrix-fed._tcp and _matrix._tcp SRV names, the addresses. UDP only:
// every answer it gives fits in 512 bytes.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv4 } from 'node:net';
import * as packet from 'dns-packet';

export interface DnsQuestion {
  at: number;
  name: string;
  type: string;
}

export interface ProbeDnsServer {
  address: string;
  port: number;
  readonly questions: readonly DnsQuestion[];
  close(): Promise<void>;
}

export interface ProbeDnsOptions {
  address: string;
  port: number;
  /** Host name (lower case, no trailing dot) -> its addresses. */
  hosts: ReadonlyMap<string, readonly string[]>;
  now?: () => number;
  maxQuestions?: number;
}

const NXDOMAIN = 3;
const FORMERR = 1;
const TTL = 5;

function canon(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The answer to one query packet, or undefined for what is not a query. */
export function answerQuery(query: Buffer, hosts: ReadonlyMap<string, readonly string[]>): { reply: Buffer; question?: { name: string; type: string } } | undefined {
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(query);
  } catch {
    return undefined;
  }
  if (decoded.type !== 'query') return undefined;
  const questions = decoded.questions ?? [];
  const reply = (rcode: number, answers: packet.Answer[] = []) =>
    packet.encode({ type: 'response', id: decoded.id ?? 0, flags: packet.AUTHORITATIVE_ANSWER | rcode, questions, answers });
  const q = questions[0];
  if (!q || questions.length !== 1) return { reply: reply(FORMERR) };
  const question = { name: canon(q.name), type: q.type };
  const addresses = hosts.get(question.name);
  if (!addresses) return { reply: reply(NXDOMAIN), question };
  const family = q.type === 'A' ? 4 : q.type === 'AAAA' ? 6 : 0;
  const answers = addresses
    .filter((a) => family !== 0 && isIPv4(a) === (family === 4))
    .map((data) => ({ type: q.type, class: 'IN', name: q.name, ttl: TTL, data }) as packet.Answer);
  return { reply: reply(0, answers), question };
}

export function startProbeDnsServer(opts: ProbeDnsOptions): Promise<ProbeDnsServer> {
  const now = opts.now ?? Date.now;
  const max = opts.maxQuestions ?? 1000;
  const questions: DnsQuestion[] = [];
  const socket = createSocket(isIPv4(opts.address) ? 'udp4' : 'udp6');
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const answer = answerQuery(msg, opts.hosts);
    if (!answer) return;
    if (answer.question && questions.length < max) questions.push({ at: now(), ...answer.question });
    socket.send(answer.reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.address, () => {
      socket.off('error', reject);
      // A send error (the asker went away) must not end the probe.
      socket.on('error', () => {});
      resolve({
        address: opts.address,
        port: socket.address().port,
        questions,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}
