// HTTPS and HTTP servers for tests, each bound to one loopback address and port
// (real ports such as 443 and 8448 in tests that need them). The HTTPS server picks
// its certificate by SNI the way a virtual-hosting front end does, and records what
// each request and each handshake asked for, so tests can assert which name a
// client sent and which certificate it must have been shown.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { isIPv6, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface CertificateEntry {
  /** Exact names or wildcards ("*.example.org") this certificate is served for. */
  names: string[];
  /** Leaf, optionally followed by intermediates. */
  certPem: string;
  keyPem: string;
}

export interface RecordedRequest {
  /** Host header as sent. */
  host: string | undefined;
  /** TLS server name the client sent; undefined for plain HTTP or no SNI. */
  sni: string | undefined;
  path: string;
  method: string;
}

export interface TestServer {
  address: string;
  port: number;
  /** `https://127.2.2.1:8448/path` (IPv6 in brackets); connect to names with DNS or `servername`. */
  url(path?: string): string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface TestHttpsServer extends TestServer {
  /**
   * Server names from every ClientHello that carried one, including handshakes
   * that then failed (the client refused the certificate and sent no request).
   */
  sniSeen: string[];
}

export interface HttpServerOptions {
  address: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default: 200 with a JSON echo of {method, path, host, sni}. */
  handler?: Handler;
}

export interface HttpsServerOptions extends HttpServerOptions {
  /** One certificate for every name, or several chosen by SNI (the first is the default). */
  certificates: { certPem: string; keyPem: string } | CertificateEntry[];
}

export async function startHttpsServer(options: HttpsServerOptions): Promise<TestHttpsServer> {
  const entries: CertificateEntry[] = Array.isArray(options.certificates)
    ? options.certificates
    : [{ names: [], ...options.certificates }];
  const first = entries[0];
  if (first === undefined) throw new Error('startHttpsServer: certificates is empty');
  const contexts = entries.map((e) => ({
    names: e.names.map((n) => n.toLowerCase()),
    context: createSecureContext({ cert: e.certPem, key: e.keyPem }),
  }));
  const sniSeen: string[] = [];
  const pick = (servername: string): SecureContext => {
    const name = servername.toLowerCase();
    const exact = contexts.find((c) => c.names.includes(name));
    // A wildcard covers exactly one leftmost label, as certificate matching does.
    const parent = name.includes('.') ? name.slice(name.indexOf('.') + 1) : undefined;
    const wildcard = parent === undefined ? undefined : contexts.find((c) => c.names.includes(`*.${parent}`));
    return (exact ?? wildcard ?? contexts[0]!).context;
  };
  const server = createHttps({
    cert: first.certPem,
    key: first.keyPem,
    SNICallback: (servername, cb) => {
      sniSeen.push(servername);
      cb(null, pick(servername));
    },
  });
  const base = await listen(server, options, 'https');
  return { ...base, sniSeen };
}

export async function startHttpServer(options: HttpServerOptions): Promise<TestServer> {
  return listen(createHttp(), options, 'http');
}

async function listen(server: Server, options: HttpServerOptions, scheme: 'http' | 'https'): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const handler = options.handler ?? echo;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const servername = (req.socket as Partial<TLSSocket>).servername;
    requests.push({
      host: req.headers.host,
      sni: typeof servername === 'string' ? servername : undefined,
      path: req.url ?? '',
      method: req.method ?? '',
    });
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        // A throwing handler is a test bug; answer 500 rather than hang the client.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`handler failed: ${String(err)}`);
      });
  });
  // Every raw socket, so close() also ends ones stuck in a TLS handshake, which
  // closeAllConnections() does not know about.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Clients that give up mid-handshake (refused certificate) are expected here.
  server.on('tlsClientError', () => undefined);
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen({ host: options.address, port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', fail);
      done();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('listen: no TCP address');
  const host = isIPv6(options.address) ? `[${options.address}]` : options.address;
  return {
    address: options.address,
    port: bound.port,
    url: (path = '/') => `${scheme}://${host}:${bound.port}${path}`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        // Keep-alive sockets would otherwise hold close() (and the test) open.
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function echo(req: IncomingMessage, res: ServerResponse): void {
  const servername = (req.socket as Partial<TLSSocket>).servername;
  const body = JSON.stringify({
    method: req.method,
    path: req.url,
    host: req.headers.host,
    sni: typeof servername === 'string' ? servername : null,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
