// A child process hosting many tiny key servers for the notary benchmark:
// one HTTPS server per address 127.70.<c>.<d>:8448 whose server name is the
// IP literal itself, each serving its own signed key document.
// Args: caCertFile caKeyFile firstC count
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { issueCertificate } from '../dist/server/dev-ca.js';
import { generateSigningKey } from '../dist/matrix/signing-key.js';
import { buildKeyDocument } from '../dist/server/key-document.js';

const [caCert, caKey, firstC, count] = process.argv.slice(2);
const ca = { certPem: readFileSync(caCert, 'utf8'), keyPem: readFileSync(caKey, 'utf8') };
const servers = [];
for (let i = 0; i < Number(count); i++) {
  const c = Number(firstC) + Math.floor(i / 200);
  const address = `127.70.${c}.${(i % 200) + 1}`;
  const name = `${address}:8448`;
  const leaf = await issueCertificate(ca, { ipAddresses: [address] });
  const doc = buildKeyDocument({ serverName: name, signingKeys: [generateSigningKey()], oldVerifyKeys: {}, refreshIntervalMs: 86_400_000, now: Date.now }).body;
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': doc.length });
    res.end(doc);
  });
  await new Promise((r) => server.listen(8448, address, r));
  servers.push(server);
}
console.error(`key servers ready: ${servers.length}`);
process.on('SIGTERM', () => process.exit(0));
