// What reaches the probe's own listeners while it runs: each connection, each
// TLS handshake a client gave up on, and each request with the name the
// client asked for (SNI), the TLS version, the Host header and the answer's
// status. The outbound checks read the target's behaviour from these.
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export type InboundEvent =
  | { kind: 'connection'; at: number; remote: string }
  | { kind: 'tls_refused'; at: number; remote: string; error: string }
  | {
      kind: 'request';
      at: number;
      remote: string;
      method: string;
      path: string;
      host: string | null;
      user_agent: string | null;
      /** The SNI name; null when none was sent, undefined on a plain listener. */
      sni?: string | null;
      tls_version?: string | null;
      /** Set when the answer has been sent. */
      status?: number;
    };

export interface InboundLog {
  readonly events: readonly InboundEvent[];
  requests(filter?: (e: Extract<InboundEvent, { kind: 'request' }>) => boolean): Array<Extract<InboundEvent, { kind: 'request' }>>;
  /** Events beyond this many are counted, not kept. */
  readonly dropped: number;
  /** Forgets what was seen so far (the probe's own set-up traffic). */
  clear(): void;
  detach(): void;
}

const MAX_EVENTS = 2000;

function remoteOf(socket: Socket | undefined): string {
  return socket?.remoteAddress ?? 'unknown';
}

export function observeServers(servers: ReadonlyArray<http.Server>, opts: { now?: () => number; maxEvents?: number } = {}): InboundLog {
  const now = opts.now ?? Date.now;
  const max = opts.maxEvents ?? MAX_EVENTS;
  const events: InboundEvent[] = [];
  let dropped = 0;
  const keep = (e: InboundEvent): void => {
    if (events.length < max) events.push(e);
    else dropped++;
  };
  const detachers: Array<() => void> = [];
  for (const server of servers) {
    const onConnection = (socket: Socket) => keep({ kind: 'connection', at: now(), remote: remoteOf(socket) });
    const onTlsError = (err: Error, socket: Socket) => keep({ kind: 'tls_refused', at: now(), remote: remoteOf(socket), error: err.message });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket as TLSSocket;
      const tls = typeof socket.getProtocol === 'function';
      const event: Extract<InboundEvent, { kind: 'request' }> = {
        kind: 'request',
        at: now(),
        remote: remoteOf(socket),
        method: req.method ?? '',
        path: req.url ?? '',
        host: req.headers.host ?? null,
        user_agent: req.headers['user-agent'] ?? null,
      };
      if (tls) {
        event.sni = typeof socket.servername === 'string' ? socket.servername : null;
        event.tls_version = socket.getProtocol();
      }
      keep(event);
      res.once('finish', () => {
        event.status = res.statusCode;
      });
    };
    server.on('connection', onConnection);
    server.on('tlsClientError', onTlsError);
    server.on('request', onRequest);
    detachers.push(() => {
      server.off('connection', onConnection);
      server.off('tlsClientError', onTlsError);
      server.off('request', onRequest);
    });
  }
  return {
    events,
    requests: (filter) => events.filter((e): e is Extract<InboundEvent, { kind: 'request' }> => e.kind === 'request' && (!filter || filter(e))),
    get dropped() {
      return dropped;
    },
    clear() {
      events.length = 0;
      dropped = 0;
    },
    detach: () => detachers.forEach((d) => d()),
  };
}
