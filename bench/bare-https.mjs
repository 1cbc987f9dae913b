// The baseline: a bare node:https server that answers every request with the
// same bytes fedpeer serves, over the same certificate. Args: cert key body host port
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';

const [cert, key, bodyFile, host, port] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(Number(port), host, () => console.error(`bare listening on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
