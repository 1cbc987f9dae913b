// The room peer opened on first use. A federation listener that never sees
// a room request (key server, notary, profile queries) never opens the lmdb
// store, so its memory map and files cost nothing there. A store that already
// exists is opened at once by the caller: it may hold transactions queued
// before a restart, and a broken one should fail the start, not a request.
import type { RoomPeer } from '../rooms/peer.js';

export interface LazyRoomPeer {
  /** Forwards every member to the peer, opening it on the first access. */
  readonly peer: RoomPeer;
  /** Opens the peer now (a no-op once open). */
  open(): RoomPeer;
  opened(): boolean;
}

export function lazyRoomPeer(open: () => RoomPeer): LazyRoomPeer {
  let peer: RoomPeer | undefined;
  const get = (): RoomPeer => (peer ??= open());
  // A Proxy rather than a hand-written wrapper, so members added to RoomPeer
  // are forwarded too; RoomPeer's members never read `this`.
  const proxy = new Proxy({} as RoomPeer, {
    get(_target, key) {
      // Closing a peer that was never opened must not open it.
      if (key === 'close' && peer === undefined) return async () => undefined;
      return Reflect.get(get(), key);
    },
  });
  return { peer: proxy, open: get, opened: () => peer !== undefined };
}
