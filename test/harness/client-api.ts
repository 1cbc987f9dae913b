// A client-server API in front of a real fedpeer's room peer, for the probe's
// room checks with an access token: the handful of calls the probe makes
// (whoami, join, leave, one event of a room), each answered from the peer
// itself. fedpeer serves no client API of its own; this one only forwards.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { RoomPeer } from '../../src/rooms/peer.js';
import { MatrixError } from '../../src/matrix/errors.js';

export interface ClientApiServer {
  url: string;
  /** Requests seen, as "METHOD path" (the token is not kept). */
  seen: string[];
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<void> {
  for await (const _ of req) void _;
}

/** Serves `tokens` (access token -> user ID of `peer`) on http://address:port, or https with `tls`. */
export async function startClientApi(
  peer: RoomPeer,
  address: string,
  port: number,
  tokens: Record<string, string>,
  tls?: { cert: string; key: string; name: string },
): Promise<ClientApiServer> {
  const seen: string[] = [];
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    await readBody(req);
    const url = new URL(req.url ?? '/', `http://${address}`);
    seen.push(`${req.method} ${url.pathname}`);
    const user = tokens[(req.headers.authorization ?? '').replace(/^Bearer /, '')];
    if (user === undefined) return answer(res, 401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown access token' });
    const parts = url.pathname.split('/').map(decodeURIComponent);
    // ['', '_matrix', 'client', 'v3', ...rest]
    const rest = parts.slice(4);
    if (req.method === 'GET' && rest.join('/') === 'account/whoami') return answer(res, 200, { user_id: user });
    if (req.method === 'POST' && rest[0] === 'join' && rest.length === 2) {
      const { roomId } = await peer.join(user, rest[1]!, { via: url.searchParams.getAll('server_name') });
      return answer(res, 200, { room_id: roomId });
    }
    if (req.method === 'POST' && rest[0] === 'rooms' && rest[2] === 'leave') {
      await peer.leave(user, rest[1]!);
      return answer(res, 200, {});
    }
    if (req.method === 'GET' && rest[0] === 'rooms' && rest[2] === 'event' && rest.length === 4) {
      const event = peer.events(rest[1]!).find((e) => e.eventId === rest[3]);
      if (!event) return answer(res, 404, { errcode: 'M_NOT_FOUND', error: 'Event not found' });
      return answer(res, 200, { event_id: event.eventId, room_id: event.roomId, type: event.type, sender: event.sender, content: event.content });
    }
    answer(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  };
  const listener: RequestListener = (req, res) => {
    route(req, res).catch((e: unknown) => {
      if (e instanceof MatrixError) answer(res, e.status, { errcode: e.errcode, error: e.message });
      else answer(res, 500, { errcode: 'M_UNKNOWN', error: (e as Error).message });
    });
  };
  const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    url: tls ? `https://${tls.name}:${port}` : `http://${address}:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
