// The second baseline: a bare Fastify route (no hooks, no logging) over the
// same certificate, answering the same bytes, to tell Fastify's own cost from
// fedpeer's. Args: cert key body host port
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [cert, key, bodyFile, host, port] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' } });
app.get('/_matrix/key/v2/server', (_req, reply) => reply.type('application/json').send(body));
await app.listen({ host, port: Number(port) });
console.error(`bare fastify listening on ${host}:${port}`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
