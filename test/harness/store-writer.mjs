// Child process of the store crash test: writes batches to a room store as
// fast as it can and reports each batch on stdout once `commit()` resolves,
// until it is killed. Batch n holds events n.0 .. n.9, their timeline entries
// and meta counter `batches` = n, so a reader can check that every batch is
// whole or absent.
// The built store (npm test builds first): a plain node child starts in a
// fraction of a second even on a loaded machine, where a TypeScript loader may take many.
import { openRoomStore } from '../../dist/rooms/store.js';

const dir = process.argv[2];
const store = openRoomStore(dir);
let n = store.meta.get('batches') ?? 0;
for (;;) {
  n++;
  for (let i = 0; i < 10; i++) {
    const eventId = `$${n}.${i}`;
    store.events.put(eventId, { eventId, roomId: '!r:x', pdu: { n, i, filler: 'x'.repeat(200) }, status: 'accepted', stream: n * 10 + i, receivedTs: Date.now() });
    store.timeline.put(['!r:x', n * 10 + i], eventId);
  }
  store.meta.put('batches', n);
  await store.commit();
  process.stdout.write(`${n}\n`);
}
