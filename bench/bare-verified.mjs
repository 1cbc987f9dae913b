// The floor of an X-Matrix-verified answer in Node: a bare node:https server
// that, for every request, reads the X-Matrix header with one regular
// expression, writes the signed request object's canonical JSON by hand
// (four strings, sorted keys), verifies the signature with libsodium against
// the one origin key it was given, and answers a fixed profile. No routing,
// no key store, no logging, no error answers beyond 401: what any server
// must do at least, to set fedpeer's verified path beside.
// Args: cert key host port origin keyId publicKeyBase64 destination
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import sodium from 'sodium-native';

const [cert, key, host, port, origin, keyId, publicKey, destination] = process.argv.slice(2);
const pk = Buffer.from(publicKey, 'base64');
const body = Buffer.from('{"displayname":"user1"}');
const HEADER = /^X-Matrix origin="([^"]*)",destination="([^"]*)",key="([^"]*)",sig="([^"]*)"$/;
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, (req, res) => {
  const m = HEADER.exec(req.headers.authorization ?? '');
  const ok =
    m !== null &&
    m[1] === origin &&
    m[2] === destination &&
    m[3] === keyId &&
    sodium.crypto_sign_verify_detached(
      Buffer.from(m[4], 'base64'),
      Buffer.from(`{"destination":${JSON.stringify(destination)},"method":${JSON.stringify(req.method)},"origin":${JSON.stringify(origin)},"uri":${JSON.stringify(req.url)}}`),
      pk,
    );
  if (!ok) {
    res.writeHead(401).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(Number(port), host, () => console.error(`bare listening on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
