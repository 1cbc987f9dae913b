// A local user redacting an event: refused up front (403) when the
// redaction would not apply, with Synapse's rule for its own users (the redact
// level, or the user's own event), so a redaction fedpeer sends always takes
// effect here and on servers that check as Synapse does.
import { authStateOf, namedPowerLevel, userPowerLevel } from '../matrix/auth/index.js';
import type { JsonObject } from '../matrix/canonical-json.js';
import { MatrixError, forbidden, notFound } from '../matrix/errors.js';
import { stateSlot, type RoomEvent } from '../matrix/events/types.js';
import type { RoomContext } from './context.js';
import { commitLocalEvent, eventFields, signedEvent } from './local-events.js';

export async function redactAsLocalUser(ctx: RoomContext, sender: string, roomId: string, eventId: string, reason?: string): Promise<RoomEvent> {
  const { data } = ctx;
  if (!ctx.identity.users.has(sender)) throw new MatrixError(400, 'M_UNKNOWN', `${sender} is not a local user of ${ctx.identity.serverName}`);
  return ctx.roomLock.run(roomId, async () => {
    if (!data.room(roomId)) throw notFound(`Unknown room ${roomId}`);
    const target = data.stored(eventId);
    if (!target || target.roomId !== roomId) throw notFound(`Unknown event ${eventId} in ${roomId}`);
    const content: JsonObject = reason === undefined ? {} : { reason };
    const fields = eventFields(data, { roomId, sender, type: 'm.room.redaction', content, redacts: eventId }, ctx.now());
    const authState = authStateOf(fields.authEvents as RoomEvent[]);
    const powerLevels = authState.get(stateSlot('m.room.power_levels', ''));
    const level = userPowerLevel(sender, powerLevels, authState.get(stateSlot('m.room.create', '')));
    if (level < namedPowerLevel(powerLevels, 'redact') && data.event(eventId)?.sender !== sender) {
      throw forbidden(`${sender} may redact only their own events in ${roomId} (redact level ${namedPowerLevel(powerLevels, 'redact')}, theirs ${level})`);
    }
    return commitLocalEvent(ctx, signedEvent(ctx, fields, data.version(roomId)));
  });
}
