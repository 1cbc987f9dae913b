// Whom outbound federation trusts, decided once per connection from the name
// the certificate must carry (`tls_name`) and the address dialled:
//
//   - federation_verify_certificates: false turns verification off entirely;
//   - federation_certificate_verification_whitelist turns it off for names
//     matching a glob (Synapse's semantics: `*` any run of characters, `?`
//     one, whole name, case-insensitive) and for addresses in a CIDR entry
//     (MSC1711's netmasks);
//   - otherwise the chain must lead to a trusted CA and the certificate must
//     name tls_name (a DNS name, or the IP address for IP literals).
//
// Trusted CAs: the system store, replaced by federation_custom_ca_list (as
// Synapse does) or added to with federation_custom_ca_mode: append. Two
// secure contexts are built up front, like Synapse's verify and no-verify
// contexts, so connections do not re-parse the CA list.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { BlockList, isIP, isIPv4 } from 'node:net';
import * as tls from 'node:tls';
import type { ClientTlsVersion, Config } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import type { RouteChoice } from './routes.js';

export interface TlsPolicyOptions {
  verify: boolean;
  /** PEM certificates from federation_custom_ca_list; empty means the system store alone. */
  customCas: readonly string[];
  customCaMode: 'replace' | 'append';
  /** Globs and CIDRs, as in the config. */
  whitelist: readonly string[];
  minVersion: ClientTlsVersion;
  /** The system store; default: read from the system (see systemCaCertificates). */
  systemCas?: readonly string[];
}

export interface ConnectionTrust {
  /** False when the certificate is not checked at all. */
  verify: boolean;
  /** Why it is not checked: "federation_verify_certificates: false" or the whitelist entry that matched. */
  exemptBy?: string;
  /** Options for tls.connect / https.request (servername, secureContext, checks). */
  options: tls.ConnectionOptions;
  /**
   * A pinned route: the leaf certificate or its key must match one of these
   * after the handshake (the options then check nothing themselves, so only
   * the pinning connection path, src/federation/dial.ts, may use them).
   */
  pins?: readonly string[];
  /** The rule that pins, for messages. */
  pinnedBy?: string;
}

export interface TlsPolicy {
  /** `route`: the federation_routes rule of the target, whose trust (none, pin) overrides the usual checks. */
  forConnection(tlsName: string, address: string, route?: RouteChoice): ConnectionTrust;
  /**
   * For `fedpeer check`: options that validate the chain against the trusted
   * CAs whatever the whitelist says, but never reject, so the caller can
   * report why a certificate is refused (socket.authorized/authorizationError)
   * and judge the name itself.
   */
  diagnosticOptions(tlsName: string): tls.ConnectionOptions;
  /** For `fedpeer resolve`: what is trusted, in words. */
  describe(): string;
}

const VERSIONS: Record<ClientTlsVersion, tls.SecureVersion> = { '1': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

let systemStore: string[] | undefined;

/**
 * The operating system's CA store, as OpenSSL finds it (SSL_CERT_FILE, then
 * the usual bundle paths), which is what Synapse's platformTrust() uses;
 * node's bundled Mozilla list only when no system bundle exists.
 */
export function systemCaCertificates(): readonly string[] {
  if (systemStore) return systemStore;
  const getCa = (tls as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  if (getCa) {
    systemStore = getCa('system');
    if (systemStore.length > 0) return systemStore;
  }
  const candidates = [
    process.env.SSL_CERT_FILE,
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
    '/etc/ssl/ca-bundle.pem',
    '/etc/ssl/cert.pem',
  ];
  for (const file of candidates) {
    if (!file || !existsSync(file)) continue;
    const pems = readFileSync(file, 'utf8').match(PEM_CERT) ?? [];
    if (pems.length > 0) return (systemStore = pems);
  }
  return (systemStore = [...tls.rootCertificates]);
}

/** Reads federation_custom_ca_list: each file may hold several certificates; every one must parse. */
export async function readCustomCas(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [i, file] of paths.entries()) {
    const key = `federation_custom_ca_list[${i}]`;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ConfigError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const pems = text.match(PEM_CERT) ?? [];
    if (pems.length === 0) throw new ConfigError(key, `${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
    for (const [j, pem] of pems.entries()) {
      try {
        new X509Certificate(pem);
      } catch (e) {
        throw new ConfigError(key, `${file}: certificate ${j + 1} does not parse: ${(e as Error).message}`);
      }
    }
    out.push(...pems);
  }
  return out;
}

/**
 * Synapse's glob_to_regex: `*` any characters (dots included), `?` exactly
 * one, anchored at both ends, case-insensitive.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split(/([*?]+)/)
    .map((chunk) => {
      if (!/^[*?]+$/.test(chunk)) return chunk.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const ones = chunk.split('?').length - 1;
      return chunk.includes('*') ? `.{${ones},}` : `.{${ones}}`;
    })
    .join('');
  return new RegExp(`^${body}$`, 'i');
}

interface CompiledWhitelist {
  match(tlsName: string, address: string): string | undefined;
}

function compileWhitelist(entries: readonly string[]): CompiledWhitelist {
  const globs = entries.filter((e) => !e.includes('/')).map((e) => ({ entry: e, re: globToRegExp(e) }));
  const cidrs = entries
    .filter((e) => e.includes('/'))
    .map((entry) => {
      const [address = '', prefix = ''] = entry.split('/');
      const family = isIPv4(address) ? 'ipv4' : 'ipv6';
      const list = new BlockList();
      list.addSubnet(address, Number(prefix), family);
      return { entry, list };
    });
  return {
    match(tlsName, address) {
      for (const g of globs) if (g.re.test(tlsName)) return g.entry;
      const family = isIP(address);
      if (family === 0) return undefined;
      for (const c of cidrs) if (c.list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return c.entry;
      return undefined;
    },
  };
}

/** SNI names the certificate expected, except that IP addresses are never sent as SNI (RFC 6066). */
function sniFor(tlsName: string): string {
  return isIP(tlsName) === 0 ? tlsName : '';
}

export function createTlsPolicy(opts: TlsPolicyOptions): TlsPolicy {
  const minVersion = VERSIONS[opts.minVersion];
  const system = opts.systemCas ?? (opts.customCas.length > 0 && opts.customCaMode === 'replace' ? [] : systemCaCertificates());
  const trusted = opts.customCas.length === 0 ? system : opts.customCaMode === 'append' ? [...system, ...opts.customCas] : opts.customCas;
  // Built on the first outbound connection: a store of the system's CAs is
  // about 2 MiB, which a listener that never dials out does not need.
  let verifyContextBuilt: tls.SecureContext | undefined;
  let noVerifyContextBuilt: tls.SecureContext | undefined;
  const verifyContext = () => (verifyContextBuilt ??= tls.createSecureContext({ ca: [...trusted], minVersion }));
  const noVerifyContext = () => (noVerifyContextBuilt ??= tls.createSecureContext({ minVersion }));
  const whitelist = compileWhitelist(opts.whitelist);

  return {
    forConnection(tlsName, address, route) {
      const servername = sniFor(tlsName);
      const unchecked = { servername, secureContext: noVerifyContext(), rejectUnauthorized: false, checkServerIdentity: () => undefined };
      if (route?.trust === 'pin') return { verify: true, pins: route.pins, pinnedBy: route.label, options: unchecked };
      if (route?.trust === 'none') return { verify: false, exemptBy: `${route.label} trust: none`, options: unchecked };
      const exemptBy = !opts.verify ? 'federation_verify_certificates: false' : whitelist.match(tlsName, address);
      if (exemptBy !== undefined) {
        return {
          verify: false,
          exemptBy: opts.verify ? `federation_certificate_verification_whitelist entry "${exemptBy}"` : exemptBy,
          options: unchecked,
        };
      }
      return {
        verify: true,
        options: {
          servername,
          secureContext: verifyContext(),
          rejectUnauthorized: true,
          // Against tls_name, never the address dialled or an SRV target.
          checkServerIdentity: (_host, cert) => tls.checkServerIdentity(tlsName, cert),
        },
      };
    },
    diagnosticOptions(tlsName) {
      return { servername: sniFor(tlsName), secureContext: verifyContext(), rejectUnauthorized: false };
    },
    describe() {
      if (!opts.verify) return 'certificates not verified (federation_verify_certificates: false)';
      const store =
        opts.customCas.length === 0
          ? `system CA store (${system.length} certificates)`
          : opts.customCaMode === 'append'
            ? `system CA store (${system.length}) plus ${opts.customCas.length} from federation_custom_ca_list`
            : `${opts.customCas.length} CA certificates from federation_custom_ca_list (system store not used)`;
      const wl = opts.whitelist.length > 0 ? `; not verified for ${opts.whitelist.join(', ')}` : '';
      return `${store}; minimum TLS ${opts.minVersion}${wl}`;
    },
  };
}

/** The policy a config describes (reads the custom CA files). */
export async function tlsPolicyFromConfig(config: Config, overrides: { systemCas?: readonly string[] } = {}): Promise<TlsPolicy> {
  return createTlsPolicy({
    verify: config.federationVerifyCertificates,
    customCas: await readCustomCas(config.federationCustomCaList),
    customCaMode: config.federationCustomCaMode,
    whitelist: config.federationCertificateVerificationWhitelist,
    minVersion: config.federationClientMinimumTlsVersion,
    ...(overrides.systemCas ? { systemCas: overrides.systemCas } : {}),
  });
}
