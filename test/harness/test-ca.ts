// The test PKI: a trusted root (the one code under test is told to trust), an
// untrusted root (a CA nobody trusts, for the "valid chain, wrong anchor" case),
// an intermediate under each, and leaves on demand for each test name.
//
// Everything is made once per process and cached: key generation is the slow part
// and tests ask for the same names again and again. Validity is relative to the
// real clock because TLS clients check certificates against it.
import { isIP } from 'node:net';
import { createCa, issueCertificate, type CertificateAndKey } from '../../src/server/dev-ca.js';

export type { CertificateAndKey };

export interface LeafOptions {
  /** notAfter in the past. */
  expired?: boolean;
  /** notBefore in the future. */
  notYetValid?: boolean;
  /** Issued under the untrusted root. */
  untrusted?: boolean;
  /** Issued by an intermediate, which is then included in chainPem. */
  viaIntermediate?: boolean;
}

export interface Leaf extends CertificateAndKey {
  /** Leaf followed by its intermediates (not the root): what a server sends. */
  chainPem: string;
}

export interface TestPki {
  /** The root that clients in tests trust (pass `root.certPem` as `ca`). */
  root: CertificateAndKey;
  /** A well-formed root that no client trusts. */
  untrustedRoot: CertificateAndKey;
  /** Intermediates under each root, used by `viaIntermediate` leaves. */
  intermediate: CertificateAndKey;
  untrustedIntermediate: CertificateAndKey;
  /**
   * A server certificate for `names` (DNS names, wildcards or IP addresses).
   * Same names and options give the same cached certificate.
   */
  leaf(names: string[], opts?: LeafOptions): Promise<Leaf>;
}

const DAY = 24 * 3600_000;
let pki: Promise<TestPki> | undefined;

export function makeTestPki(): Promise<TestPki> {
  pki ??= build();
  return pki;
}

async function build(): Promise<TestPki> {
  const now = Date.now();
  const caValidity = { notBefore: new Date(now - 2 * DAY), notAfter: new Date(now + 3650 * DAY) };
  const [root, untrustedRoot] = await Promise.all([
    createCa({ commonName: 'fedpeer test root', ...caValidity }),
    createCa({ commonName: 'fedpeer untrusted root', ...caValidity }),
  ]);
  const [intermediate, untrustedIntermediate] = await Promise.all([
    issueCertificate(root, { commonName: 'fedpeer test intermediate', isCa: true, ...caValidity }),
    issueCertificate(untrustedRoot, { commonName: 'fedpeer untrusted intermediate', isCa: true, ...caValidity }),
  ]);

  const leaves = new Map<string, Promise<Leaf>>();
  const leaf = (names: string[], opts: LeafOptions = {}): Promise<Leaf> => {
    if (names.length === 0) throw new Error('leaf: give at least one name');
    if (opts.expired && opts.notYetValid) throw new Error('leaf: expired and notYetValid exclude each other');
    const key = JSON.stringify([names, !!opts.expired, !!opts.notYetValid, !!opts.untrusted, !!opts.viaIntermediate]);
    let made = leaves.get(key);
    if (made === undefined) {
      made = issueLeaf(names, opts);
      leaves.set(key, made);
    }
    return made;
  };

  async function issueLeaf(names: string[], opts: LeafOptions): Promise<Leaf> {
    const issuer = opts.viaIntermediate
      ? opts.untrusted ? untrustedIntermediate : intermediate
      : opts.untrusted ? untrustedRoot : root;
    const t = Date.now();
    const [notBefore, notAfter] = opts.expired
      ? [t - 30 * DAY, t - DAY]
      : opts.notYetValid
        ? [t + DAY, t + 30 * DAY]
        : [t - DAY, t + 30 * DAY];
    const made = await issueCertificate(issuer, {
      dnsNames: names.filter((n) => isIP(n) === 0),
      ipAddresses: names.filter((n) => isIP(n) !== 0),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
    });
    const chainPem = opts.viaIntermediate ? made.certPem + issuer.certPem : made.certPem;
    return { ...made, chainPem };
  }

  return { root, untrustedRoot, intermediate, untrustedIntermediate, leaf };
}
