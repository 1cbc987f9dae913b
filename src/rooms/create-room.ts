// A new room hosted here, made the way Synapse's createRoom makes one:
// m.room.create, the creator's join, power levels, join rules, history
// visibility, then the optional alias, name and topic.
import type { JsonObject } from '../matrix/canonical-json.js';
import { MatrixError } from '../matrix/errors.js';
import { DEFAULT_ROOM_VERSION, roomVersion } from '../matrix/events/room-versions.js';
import type { RoomContext } from './context.js';
import { commitLocalEvent, eventFields, signedEvent, type NewEvent } from './local-events.js';

export interface CreateRoomOptions {
  /** A local user; becomes the room's creator with power level 100. */
  creator: string;
  /** Any supported version; default 10. */
  roomVersion?: string;
  /** 'public' (default) or 'invite'. */
  joinRule?: 'public' | 'invite';
  /** Local part of an alias `#localpart:server_name` answered by /query/directory. */
  alias?: string;
  name?: string;
  topic?: string;
  /** Extra state events sent after the initial ones. */
  initialState?: Array<{ type: string; stateKey?: string; content: JsonObject }>;
  /** Merged into the m.room.power_levels content. */
  powerLevels?: JsonObject;
}

export async function createRoom(ctx: RoomContext, opts: CreateRoomOptions): Promise<{ roomId: string; alias?: string }> {
  const { identity, data } = ctx;
  if (!identity.users.has(opts.creator)) throw new MatrixError(400, 'M_UNKNOWN', `${opts.creator} is not a local user of ${identity.serverName}`);
  const versionId = opts.roomVersion ?? DEFAULT_ROOM_VERSION;
  const version = roomVersion(versionId);
  if (!version) throw new MatrixError(400, 'M_UNSUPPORTED_ROOM_VERSION', `Room version ${JSON.stringify(versionId)} is not supported`);
  const alias = opts.alias === undefined ? undefined : `#${opts.alias}:${identity.serverName}`;
  if (alias !== undefined && (!/^[^:\s#]+$/.test(opts.alias!) || data.store.aliases.get(alias) !== undefined)) {
    throw new MatrixError(400, 'M_ROOM_IN_USE', `Alias ${alias} is already taken or not a valid local part`);
  }
  const roomId = `!${ctx.randomId()}:${identity.serverName}`;
  const now = ctx.now();
  return ctx.roomLock.run(roomId, async () => {
    data.putRoom({ roomId, version: version.id, extremities: [], stateGroup: data.groups.create(new Map()), depth: 0, stream: 0, createdTs: now });
    const send = async (e: Omit<NewEvent, 'roomId' | 'sender'>) => {
      const fields = eventFields(data, { ...e, roomId, sender: opts.creator }, ctx.now());
      await commitLocalEvent(ctx, signedEvent(ctx, fields, version));
    };
    await send({ type: 'm.room.create', stateKey: '', content: version.implicitRoomCreator ? { room_version: version.id } : { creator: opts.creator, room_version: version.id } });
    const profile = identity.users.get(opts.creator)!;
    await send({ type: 'm.room.member', stateKey: opts.creator, content: { membership: 'join', ...(profile.displayname !== undefined ? { displayname: profile.displayname } : {}) } });
    await send({
      type: 'm.room.power_levels',
      stateKey: '',
      content: {
        users: { [opts.creator]: 100 },
        users_default: 0,
        events: { 'm.room.name': 50, 'm.room.power_levels': 100, 'm.room.history_visibility': 100, 'm.room.canonical_alias': 50, 'm.room.avatar': 50, 'm.room.tombstone': 100, 'm.room.server_acl': 100, 'm.room.encryption': 100 },
        events_default: 0,
        state_default: 50,
        ban: 50,
        kick: 50,
        redact: 50,
        invite: 0,
        ...opts.powerLevels,
      },
    });
    await send({ type: 'm.room.join_rules', stateKey: '', content: { join_rule: opts.joinRule ?? 'public' } });
    await send({ type: 'm.room.history_visibility', stateKey: '', content: { history_visibility: 'shared' } });
    if (alias !== undefined) {
      data.store.aliases.put(alias, roomId);
      await send({ type: 'm.room.canonical_alias', stateKey: '', content: { alias } });
    }
    if (opts.name !== undefined) await send({ type: 'm.room.name', stateKey: '', content: { name: opts.name } });
    if (opts.topic !== undefined) await send({ type: 'm.room.topic', stateKey: '', content: { topic: opts.topic } });
    for (const s of opts.initialState ?? []) await send({ type: s.type, stateKey: s.stateKey ?? '', content: s.content });
    return { roomId, ...(alias !== undefined ? { alias } : {}) };
  });
}
