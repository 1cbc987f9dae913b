// A tar pit: a TCP server that accepts connections and never answers (no TLS
// handshake, no HTTP), the slowest server a client can meet. Its open
// connections are kept in a set, so tests can count what a client holds open
// and see when it lets go.
import * as net from 'node:net';
import type { Test } from 'tap';

/** A tar pit at `address`:`port` (8448), closed at the end of `t`; its open connections. */
export async function tarPit(t: Test, address: string, port = 8448): Promise<Set<net.Socket>> {
  const sockets = new Set<net.Socket>();
  const pit = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    // Read (and ignore) the ClientHello, so a client's close is seen.
    s.resume();
  });
  await new Promise<void>((r) => pit.listen(port, address, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => pit.close(r));
  });
  return sockets;
}
