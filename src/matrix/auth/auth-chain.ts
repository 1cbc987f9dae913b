// The auth difference of state resolution v2: the events that are in the full
// auth chain of some of the state sets but not of all of them.
//
// A state set's full auth chain is taken to include the set's own events, as
// Synapse computes it (its auth chain difference starts from the state events
// themselves); the spec's wording starts from their auth events. The two
// differ only for an event that is state in one set and in the auth chain of
// another, and following Synapse keeps fedpeer resolving rooms as Synapse does.
//
// One walk over the union of the auth chains, linear in its events and edges:
// a depth-first pass lists every event after all the events it cites (post
// order), then each event hands the sets that reach it down to its auth
// events in the reverse of that order, one bit per state set.
import type { RoomEvent, StateMap } from '../events/types.js';

export function authDifference(stateSets: readonly StateMap[], getEvent: (eventId: string) => RoomEvent): Set<string> {
  const index = new Map<string, number>();
  const ids: string[] = [];
  const authOf: number[][] = [];
  // 0: not seen, 1: on the walk's stack, 2: done. An auth graph with a cycle
  // (possible with the chosen event IDs of room versions 1 and 2) ends the
  // walk at the repeated event instead of looping.
  const status: number[] = [];
  const indexOf = (id: string): number => {
    let i = index.get(id);
    if (i === undefined) {
      i = ids.length;
      index.set(id, i);
      ids.push(id);
      authOf.push([]);
      status.push(0);
    }
    return i;
  };

  const postOrder: number[] = [];
  const stack: number[] = [];
  const positions: number[] = [];
  const enter = (i: number): void => {
    status[i] = 1;
    authOf[i] = getEvent(ids[i]!).authEvents.map(indexOf);
    stack.push(i);
    positions.push(0);
  };
  for (const stateSet of stateSets) {
    for (const id of stateSet.values()) {
      const start = indexOf(id);
      if (status[start] !== 0) continue;
      enter(start);
      while (stack.length > 0) {
        const top = stack.length - 1;
        const node = stack[top]!;
        const children = authOf[node]!;
        const position = positions[top]!;
        if (position < children.length) {
          positions[top] = position + 1;
          const child = children[position]!;
          if (status[child] === 0) enter(child);
        } else {
          status[node] = 2;
          postOrder.push(node);
          stack.pop();
          positions.pop();
        }
      }
    }
  }

  const words = Math.ceil(stateSets.length / 32);
  const reach = new Uint32Array(ids.length * words);
  stateSets.forEach((stateSet, j) => {
    for (const id of stateSet.values()) reach[index.get(id)! * words + (j >> 5)]! |= 1 << (j & 31);
  });
  for (let p = postOrder.length - 1; p >= 0; p--) {
    const node = postOrder[p]!;
    for (const child of authOf[node]!) {
      for (let w = 0; w < words; w++) reach[child * words + w]! |= reach[node * words + w]!;
    }
  }

  const lastBits = stateSets.length % 32;
  const fullLast = lastBits === 0 ? 0xffffffff : (1 << lastBits) - 1;
  const difference = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    for (let w = 0; w < words; w++) {
      const full = w === words - 1 ? fullLast : 0xffffffff;
      if (reach[i * words + w]! >>> 0 !== full >>> 0) {
        difference.add(ids[i]!);
        break;
      }
    }
  }
  return difference;
}
