// The baseline: a bare node:https server that answers every request with the
// same bytes fedpeer serves, over the same certificate.
// Args: cert key body host port [name cert key]...
// With the optional triples it also selects a certificate by SNI through a
// plain SNICallback over a Map, the least any SNI server must do, so the TLS
// benchmark can tell the cost of SNI itself from the cost of the rest.
import { createServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';

const [cert, key, bodyFile, host, port, ...sni] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const options = { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' };
if (sni.length > 0) {
  const contexts = new Map();
  for (let i = 0; i + 2 < sni.length; i += 3) contexts.set(sni[i], createSecureContext({ cert: readFileSync(sni[i + 1]), key: readFileSync(sni[i + 2]) }));
  const fallback = contexts.values().next().value;
  options.SNICallback = (name, cb) => cb(null, contexts.get(name) ?? fallback);
}
const server = createServer(options, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(Number(port), host, () => console.error(`bare listening on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
