// Events made to order, for tests of other servers: any field, chosen prev
// and auth events, and deliberately broken signatures or hashes. Nothing is
// stored or sent; hand the result to sendTransaction (or anything else).
import { buildPdu, computeEventId, signPdu } from '../matrix/events/index.js';
import { authEventSlots } from '../matrix/auth/index.js';
import type { JsonObject } from '../matrix/canonical-json.js';
import { MatrixError } from '../matrix/errors.js';
import { roomVersion } from '../matrix/events/room-versions.js';
import type { Pdu, RoomEvent } from '../matrix/events/types.js';
import type { RoomContext } from './context.js';

export interface BuildEventOptions {
  roomId: string;
  /** Any user ID; signed by this server's key whatever its domain. */
  sender: string;
  type: string;
  stateKey?: string;
  content?: JsonObject;
  /** Event IDs (default: the room's forward extremities). */
  prevEvents?: readonly string[];
  /** Event IDs (default: what the selection algorithm picks from the current state). */
  authEvents?: readonly string[];
  /** Default: one more than the deepest prev event. */
  depth?: number;
  originServerTs?: number;
  redacts?: string;
  /** For a room the store does not hold (default: the room's version). */
  roomVersion?: string;
  /** Top-level fields set after building (before signing): override anything. */
  extra?: JsonObject;
  /**
   * 'valid' (default); 'bad': the signature is corrupted; 'none': not signed
   * (and no hashes).
   */
  signature?: 'valid' | 'bad' | 'none';
  /**
   * 'valid' (default); 'bad': the content is changed after signing, so the
   * content hash no longer matches while the signature (over the redacted
   * form, without the content of most events) still verifies.
   */
  hash?: 'valid' | 'bad';
}

export interface BuiltEvent {
  eventId: string;
  pdu: Pdu;
}

function corrupt(sig: string): string {
  const c = sig[0] === 'A' ? 'B' : 'A';
  return c + sig.slice(1);
}

export function buildEvent(ctx: RoomContext, o: BuildEventOptions): BuiltEvent {
  const { data } = ctx;
  const room = data.room(o.roomId);
  const version = roomVersion(o.roomVersion ?? room?.version ?? '');
  if (!version) throw new MatrixError(400, 'M_UNKNOWN', `buildEvent: give roomVersion for a room the store does not hold (${o.roomId})`);
  const content = o.content ?? {};
  const ref = (id: string): RoomEvent | string => data.event(id) ?? id;
  const prev = (o.prevEvents ?? room?.extremities ?? []).map(ref);
  const state = room ? data.currentState(o.roomId) : new Map<string, string>();
  const auth = (o.authEvents ?? authEventSlots({ type: o.type, stateKey: o.stateKey, sender: o.sender, content }, version).flatMap((s) => state.get(s) ?? [])).map(ref);
  const depth = o.depth ?? Math.max(0, ...prev.map((p) => (typeof p === 'string' ? 0 : p.depth))) + 1;
  let pdu = buildPdu(
    {
      roomId: o.roomId,
      sender: o.sender,
      type: o.type,
      ...(o.stateKey !== undefined ? { stateKey: o.stateKey } : {}),
      content,
      prevEvents: prev,
      authEvents: auth,
      depth,
      originServerTs: o.originServerTs ?? ctx.now(),
      ...(o.redacts !== undefined ? { redacts: o.redacts } : {}),
      ...(o.extra ? { extra: o.extra } : {}),
    },
    version,
    { randomId: ctx.randomId },
  );
  if (o.signature !== 'none') pdu = signPdu(pdu, version, ctx.identity.serverName, ctx.identity.signingKey);
  const eventId = computeEventId(pdu, version);
  if (o.signature === 'bad') {
    const sigs = pdu.signatures as Record<string, Record<string, string>>;
    const mine = sigs[ctx.identity.serverName]!;
    pdu = { ...pdu, signatures: { ...sigs, [ctx.identity.serverName]: { ...mine, [ctx.identity.signingKey.keyId]: corrupt(mine[ctx.identity.signingKey.keyId]!) } } };
  }
  if (o.hash === 'bad') pdu = { ...pdu, content: { ...content, tampered: true } };
  return { eventId, pdu };
}
