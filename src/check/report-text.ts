// The text form of a check report (what `fedpeer check` prints without
// --json): the verdict first, then the findings with their fixes, then the
// details per step and per target. Pure.
import { hostPort } from '../federation/errors.js';
import { wrapWords } from '../wrap.js';
import type { CertificateReport, CheckReport, Finding, KeyResult, TargetReport } from './types.js';

const WIDTH = 100;
const MARK = { error: '✗ ERROR  ', warning: '! WARNING', info: 'i INFO   ' } as const;
export const SIGNATURE_TEXT: Record<KeyResult['signature'], string> = {
  valid: 'signature valid',
  invalid: 'signature INVALID',
  missing: 'NOT signed by this key',
  'not-checked': 'signature not checked',
};

/** "Synapse 1.120.0" per distinct version the targets answered; empty when none did. */
export function serverSoftware(r: CheckReport): string[] {
  const seen = new Set<string>();
  for (const t of r.targets) if (t.version?.ok && t.version.server) seen.add(`${t.version.server.name} ${t.version.server.version}`.trim());
  return [...seen];
}

/** Wraps `text` at word boundaries to WIDTH, each line prefixed with `indent`. */
export function wrap(text: string, indent: string): string[] {
  return wrapWords(text, indent, WIDTH);
}

function finding(f: Finding): string[] {
  const at = f.targets.length > 0 ? `  at ${f.targets.join(', ')}` : '';
  const lines = [`  ${MARK[f.severity]} ${f.code}${at}`, ...wrap(f.title, '      '), ...wrap(f.explanation, '      ')];
  if (f.fix !== null) lines.push(...wrap(`Fix: ${f.fix}`, '      '));
  return lines;
}

export function certificateLines(c: CertificateReport, i: number): string[] {
  const san = c.subject_alt_names.length > 0 ? c.subject_alt_names.join(', ') : 'none';
  return [
    `     cert [${i}]  subject ${c.subject}; issuer ${c.issuer}`,
    `               SAN ${san}`,
    `               valid ${c.not_before} to ${c.not_after} (${c.days_left < 0 ? `expired ${-c.days_left} days ago` : `${c.days_left} days left`})`,
    `               SHA-256 ${c.sha256}; SCTs: ${c.sct ? 'embedded' : 'none'}`,
    `               public key ${c.public_key_sha256}`,
  ];
}

function target(t: TargetReport, i: number): string[] {
  const lines = [
    `  ${i + 1}. ${hostPort(t.address, t.port)}  Host: ${t.host}  certificate for: ${t.tls_name} (${t.sni === null ? 'no SNI' : `SNI ${t.sni}`})${t.srv_target ? `  via SRV target ${t.srv_target}` : ''}`,
  ];
  if (t.route) {
    const how = t.route.via === 'direct' ? 'direct' : `through SOCKS proxy ${t.route.via}`;
    lines.push(`     route     ${t.route.rule}: ${how}${t.route.inherited_from ? ` (kept from ${t.route.inherited_from})` : ''}; trust: ${t.route.trust}`);
  }
  lines.push(`     TCP       ${t.tcp.ok ? `ok, ${t.tcp.ms} ms` : `FAILED: ${t.tcp.error}`}`);
  const tls = t.tls;
  if (tls === null) return lines;
  if (!tls.ok) {
    lines.push(`     TLS       FAILED: ${tls.error}`);
    return lines;
  }
  const chain = tls.trusted ? 'chain trusted' : `chain NOT trusted (${tls.trust_error})`;
  const name = tls.name_valid ? `valid for ${t.tls_name}` : `NOT valid for ${t.tls_name}`;
  const verification =
    tls.verification === 'exempt' ? `; not verified: ${tls.exempt_by}` : tls.verification === 'pinned' ? `; pinned by ${tls.exempt_by}: ${tls.pin_ok ? 'a pin matches' : 'NO pin matches'}` : '';
  lines.push(`     TLS       ${tls.protocol}, ${tls.cipher}; ${chain}; ${name}${verification}; ${tls.accepted ? 'accepted' : 'REFUSED'}`);
  tls.chain.forEach((c, j) => lines.push(...certificateLines(c, j)));
  if (t.version) {
    const v = t.version;
    lines.push(`     version   ${v.ok ? `${v.status} ${v.server!.name} ${v.server!.version}` : `FAILED: ${v.error}`}`);
  } else {
    lines.push('     version   not asked: the certificate was refused');
  }
  if (t.keys) {
    const k = t.keys;
    lines.push(`     keys      ${k.ok ? `ok: ${k.key_ids.join(', ')}, valid until ${k.valid_until ?? 'a date too far to show'}` : `FAILED: ${k.error}`}`);
    for (const c of k.checks) lines.push(`               ${c.ok ? '✓' : '✗'} ${c.check}: ${c.detail}`);
    for (const v of k.verify_keys ?? []) lines.push(`               ${v.key_id} ${v.key ?? '(no key)'}: ${SIGNATURE_TEXT[v.signature]}${v.signature === 'valid' ? '' : ` (${v.detail})`}`);
  }
  return lines;
}

export function renderText(r: CheckReport): string {
  const software = serverSoftware(r);
  const lines: string[] = [
    `fedpeer check ${r.server_name}: ${r.federation_ok ? 'OK' : 'FAIL'}`,
    ...wrap(r.verdict, ''),
    `Server software: ${software.length > 0 ? software.join('; ') : 'unknown (no target answered /_matrix/federation/v1/version)'}`,
    '',
  ];
  if (r.findings.length > 0) {
    lines.push('Findings:');
    for (const f of r.findings) lines.push(...finding(f));
    lines.push('');
  }
  lines.push(`Resolution (DNS: ${r.dns_servers.join(', ')}):`);
  r.resolution.steps.forEach((s, i) => {
    lines.push(`  ${i + 1}. ${s.step}: ${s.lookup}: ${s.outcome}${s.cached ? ' (cached)' : ''}`);
    lines.push(...wrap(s.detail, '     '));
  });
  if (r.resolution.route) lines.push(`  Route: ${r.resolution.route}${r.resolution.delegated_server ? `, delegated to ${r.resolution.delegated_server}` : ''}`);
  if (r.resolution.error) lines.push(...wrap(`FAILED ${r.resolution.error.message}`, '  '));
  lines.push('');
  const wk = r.well_known;
  if (wk) {
    lines.push(`Well-known: ${wk.url}: ${wk.outcome}`);
    for (const x of wk.responses) lines.push(`  ${x.url} -> ${x.status}${x.location ? ` (Location: ${x.location})` : ''}`);
    if (wk.m_server) lines.push(`  m.server ${wk.m_server}`);
    if (wk.body !== null && wk.outcome !== 'found') lines.push(`  body: ${JSON.stringify(wk.body.slice(0, 200))}`);
    if (wk.cache_seconds !== null) {
      lines.push(`  ${wk.outcome === 'found' ? 'cached' : 'failure cached'} ${wk.cache_seconds} s${wk.header_cache_seconds !== null ? ` (headers asked for ${wk.header_cache_seconds} s)` : ''}`);
    }
    if (wk.error) lines.push(...wrap(`error: ${wk.error}`, '  '));
  }
  if (r.srv.length > 0) {
    lines.push('SRV:');
    for (const s of r.srv) {
      const records = s.records.map((x) => `${x.priority} ${x.weight} ${x.port} ${x.target}`).join('; ');
      lines.push(`  ${s.name}: ${s.outcome}${records ? `: ${records}` : ''}${s.error ? `: ${s.error}` : ''}${s.used ? ' (used)' : ''}`);
    }
  }
  lines.push('', r.targets.length > 0 ? 'Targets, in the order servers try them:' : 'Targets: none');
  r.targets.forEach((t, i) => lines.push(...target(t, i)));
  if (r.targets_not_probed > 0) lines.push(`  (${r.targets_not_probed} more not checked)`);
  const c = r.client_well_known;
  if (c) {
    lines.push('', `Client well-known: ${c.url}: ${c.outcome}${c.status !== null ? ` (${c.status})` : ''}${c.error ? `: ${c.error}` : ''}`);
    if (c.status !== null) lines.push(`  Access-Control-Allow-Origin: ${c.cors ?? 'missing'}`);
    if (c.base_url) lines.push(`  m.homeserver.base_url ${c.base_url}`);
    const b = c.base_url_check;
    if (b) lines.push(`  ${b.url}: ${b.ok ? `reachable (${b.status})` : `NOT reachable: ${b.error}`}`);
  }
  lines.push('', `Trust: ${r.trust}`, `Checked at ${r.checked_at} in ${r.duration_ms} ms.`);
  return lines.join('\n');
}
