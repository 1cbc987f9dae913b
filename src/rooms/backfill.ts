// History before a remote join: one /backfill request to the resident server
// the join went through, for at most `limits.backfillEvents` events and
// `limits.backfillBytes` of answer. The events are checked as any received
// PDU (format, signatures, content hash) and stored as outliers, checked
// against their own auth events only: they are history, not state changes,
// so they touch neither the room's current state nor its extremities.
//
// The timeline is keyed by [roomId, stream] with streams counting up from 1
// as events are placed; backfilled events take negative streams counting
// down from the room's `backfillStream`, so they read before everything the
// join and later events were given, oldest (least deep) first. Only events
// the join's prev events reach through prev_events in the answer are kept: a
// resident cannot slip unrelated events into the history this way.
import type { RoomEvent } from '../matrix/events/types.js';
import type { RoomVersion } from '../matrix/events/room-versions.js';
import { checkEvents } from './check-events.js';
import type { RoomContext } from './context.js';
import type { Inbound } from './inbound.js';

/** Fetches and stores the history before `join`; never throws (a failed backfill leaves the join as it is). */
export async function backfillOnJoin(ctx: RoomContext, inbound: Inbound, server: string, join: RoomEvent, version: RoomVersion): Promise<number> {
  const { limits, data, logger } = ctx;
  const roomId = join.roomId;
  if (limits.backfillEvents <= 0 || join.prevEvents.length === 0) return 0;
  try {
    const v = join.prevEvents.slice(0, 20).map((id) => `v=${encodeURIComponent(id)}`).join('&');
    const r = await ctx.request(server, 'GET', `/_matrix/federation/v1/backfill/${encodeURIComponent(roomId)}?${v}&limit=${limits.backfillEvents}`, {
      timeoutMs: limits.backfillTimeMs,
      maxBytes: limits.backfillBytes,
    });
    const pdus = (r.body as { pdus?: unknown } | null)?.pdus;
    if (!Array.isArray(pdus)) throw new Error('the answer has no pdus list');
    const checked = await checkEvents(ctx.identity, ctx.keys, pdus.slice(0, limits.backfillEvents), version, (id) => data.stored(id)?.status === 'accepted');
    const valid = new Map<string, RoomEvent>();
    for (const c of checked) if (c.ok && !c.known && c.event.roomId === roomId) valid.set(c.event.eventId, c.event);
    const history = placeable(data, reachable(join.prevEvents, valid), valid);
    return await ctx.roomLock.run(roomId, async () => {
      const placed = await inbound.placeOutliers(
        roomId,
        checked.filter((c) => c.ok && history.has(c.event.eventId)),
      );
      const shown = [...placed.values()]
        .filter(({ event }) => {
          const record = data.stored(event.eventId);
          return record?.status === 'outlier' && record.stream === undefined;
        })
        .map(({ event }) => event)
        .sort((a, b) => a.depth - b.depth || (a.eventId < b.eventId ? -1 : 1));
      const room = data.room(roomId)!;
      const first = (room.backfillStream ?? 0) - shown.length;
      shown.forEach((event, i) => {
        const record = data.stored(event.eventId)!;
        data.putEvent({ ...record, stream: first + i });
        data.store.timeline.put([roomId, first + i], event.eventId);
      });
      data.putRoom({ ...data.room(roomId)!, backfillStream: first });
      await data.store.commit();
      logger.info({ roomId, server, received: pdus.length, stored: shown.length }, 'backfilled the history before the join');
      return shown.length;
    });
  } catch (e) {
    logger.warn({ roomId, server, err: (e as Error).message }, 'backfill after the join failed; the room starts at the join');
    return 0;
  }
}

/**
 * The events whose auth events are all held or themselves placeable: one
 * whose auth events we lack is left out rather than stored as rejected (it
 * may still reach us later, with its auth chain).
 */
function placeable(data: RoomContext['data'], ids: ReadonlySet<string>, events: ReadonlyMap<string, RoomEvent>): Set<string> {
  const out = new Set(ids);
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of out) {
      if (events.get(id)!.authEvents.every((a) => out.has(a) || data.stored(a) !== undefined)) continue;
      out.delete(id);
      changed = true;
    }
  }
  return out;
}

/** The events of `events` reached from `from` through their prev_events. */
function reachable(from: readonly string[], events: ReadonlyMap<string, RoomEvent>): Set<string> {
  const out = new Set<string>();
  const todo = [...from];
  while (todo.length > 0) {
    const id = todo.pop()!;
    const event = events.get(id);
    if (out.has(id) || !event) continue;
    out.add(id);
    todo.push(...event.prevEvents);
  }
  return out;
}
