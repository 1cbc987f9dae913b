// /.well-known/matrix/{server,client,support}, and optionally the rest of
// /.well-known/ from a directory (well_known_dir). The documents are built
// once from the config; every answer carries the spec's CORS headers (the
// client-server API's "Web Browser Clients" section; browsers fetch the
// client file cross-origin) and the configured Cache-Control max-age.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../../config/types.js';
import { notFound } from '../../matrix/errors.js';
import { formatServerName, parseServerName } from '../../matrix/server-name.js';
import { addRoute, sendMatrixError } from '../matrix-errors.js';

export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
});

/**
 * The m.server delegation, or undefined when none is served. An explicit
 * `well_known_server` wins; otherwise, with `serve_server_wellknown`, the
 * value Synapse derives: server_name's host with its port, or 443 when it has
 * none (reaching https://<server_name>/ means that host answers on 443).
 */
export function serverWellKnown(config: Config): { 'm.server': string } | undefined {
  if (config.wellKnownServer !== undefined) return { 'm.server': config.wellKnownServer };
  if (!config.serveServerWellknown) return undefined;
  const name = parseServerName(config.serverName);
  return { 'm.server': formatServerName({ ...name, port: name.port ?? 443 }) };
}

/**
 * Served only when public_baseurl is set, as Synapse does (a guessed base URL
 * could send clients somewhere broken). Extra content never replaces
 * m.homeserver (the config parser refuses it too).
 */
export function clientWellKnown(config: Config): Record<string, unknown> | undefined {
  if (config.publicBaseurl === undefined) return undefined;
  return { ...config.extraWellKnownClientContent, 'm.homeserver': { base_url: config.publicBaseurl } };
}

/** The spec's support document: contacts with snake_case keys, and the page. */
export function supportWellKnown(config: Config): Record<string, unknown> | undefined {
  const s = config.wellKnownSupport;
  if (s === undefined) return undefined;
  const contacts = s.contacts.map((c) => ({
    ...(c.matrixId !== undefined ? { matrix_id: c.matrixId } : {}),
    ...(c.emailAddress !== undefined ? { email_address: c.emailAddress } : {}),
    role: c.role,
  }));
  return s.supportPage === undefined ? { contacts } : { contacts, support_page: s.supportPage };
}

function withCors(reply: FastifyReply): FastifyReply {
  return reply.headers(CORS_HEADERS);
}

export async function registerWellKnownRoutes(app: FastifyInstance, config: Config): Promise<void> {
  const cacheControl = `max-age=${Math.floor(config.wellKnownCacheMaxAgeMs / 1000)}`;
  const documents: Array<[string, unknown, string]> = [
    ['server', serverWellKnown(config), '.well-known/matrix/server is not served here (set serve_server_wellknown or well_known_server)'],
    ['client', clientWellKnown(config), '.well-known/matrix/client is not served here (set public_baseurl)'],
    ['support', supportWellKnown(config), '.well-known/matrix/support is not served here (set well_known_support)'],
  ];
  for (const [name, doc, missing] of documents) {
    const body = doc === undefined ? undefined : JSON.stringify(doc);
    addRoute(app, `/.well-known/matrix/${name}`, {
      GET: (_req, reply) => {
        withCors(reply);
        if (body === undefined) return sendMatrixError(reply, notFound(missing));
        return reply.header('cache-control', cacheControl).type('application/json').send(body);
      },
      // Preflight: headers only, no endpoint logic (as the spec asks).
      OPTIONS: (_req, reply) => withCors(reply).code(204).send(),
    });
  }
  if (config.wellKnownDir !== undefined) {
    // @fastify/static (through `send`) refuses paths that climb out of the
    // root, dotfiles included, and serves nothing it cannot stat inside it.
    // Loaded only when a directory is configured (idle memory, docs/PERFORMANCE.md).
    const { default: fastifyStatic } = await import('@fastify/static');
    await app.register(fastifyStatic, {
      root: config.wellKnownDir,
      prefix: '/.well-known/',
      decorateReply: false,
      index: false,
      dotfiles: 'deny',
      // The header below replaces send's own "public, max-age=0".
      cacheControl: false,
      setHeaders: (res) => {
        res.setHeader('cache-control', cacheControl);
        for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
      },
    });
  }
}
