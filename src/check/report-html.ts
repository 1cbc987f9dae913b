// The web form of a check report: verdict first, findings with their fixes,
// certificate expiry at a glance, then the details per step and per target.
// Pure: report in, one HTML document out.
//
// Almost every string on the page comes from the checked server or its DNS
// (well-known bodies, certificate subjects, error texts) and must be taken
// as hostile. So markup is only ever built with the `h` template tag, which
// escapes every interpolated value unless it is already `Safe` (built by
// `h` itself); no value is ever placed in a URL, script or style context,
// and the page runs no script (the route's CSP forbids any).
import { hostPort } from '../federation/errors.js';
import type { CertificateReport, CheckReport, Finding, KeyResult, Severity, TargetReport } from './types.js';
import { serverSoftware, SIGNATURE_TEXT } from './report-text.js';
import { EXPIRY_WARNING_DAYS } from './target-findings.js';

/** Markup known to be safe: only `h` makes it (checked by identity, so no parsed JSON can pass for one). */
export interface Safe {
  readonly html: string;
}

const made = new WeakSet<Safe>();

function markup(html: string): Safe {
  const safe = { html };
  made.add(safe);
  return safe;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function isSafe(v: unknown): v is Safe {
  return typeof v === 'object' && v !== null && made.has(v as Safe);
}

function piece(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (isSafe(v)) return v.html;
  if (Array.isArray(v)) return v.map(piece).join('');
  return escapeHtml(String(v));
}

/** Template tag: literal parts are markup, every value is escaped (arrays joined) unless Safe. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += piece(v) + strings[i + 1]!;
  });
  return markup(out);
}

const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --error: #cf222e; --warning: #9a6700; --info: #0969da; --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #fff; }
header, main, footer { max-width: 64rem; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 .75rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .75rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 0 0 .35rem; }
form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin-bottom: 1rem; }
input[type=text] { font: inherit; padding: .4rem .6rem; min-width: 18rem; border: 1px solid var(--line); border-radius: 6px; }
button { font: inherit; padding: .4rem 1rem; border: 1px solid #1f883d; background: #1f883d; color: #fff; border-radius: 6px; cursor: pointer; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
.verdict { border-radius: 8px; padding: 1rem 1.25rem; color: #fff; margin-top: .5rem; }
.verdict h2 { border: 0; margin: 0 0 .25rem; padding: 0; font-size: 1.4rem; }
.verdict p { margin: .25rem 0; }
.verdict.ok { background: var(--ok); }
.verdict.fail { background: var(--error); }
.verdict a { color: #fff; }
.finding { border: 1px solid var(--line); border-left: 6px solid var(--info); border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; }
.finding.error { border-left-color: var(--error); }
.finding.warning { border-left-color: var(--warning); }
.finding p { margin: .3rem 0; }
.fix { background: var(--soft); padding: .5rem .75rem; border-radius: 4px; }
.sev { display: inline-block; min-width: 5.5rem; font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.sev.error, .bad { color: var(--error); }
.sev.warning, .warn { color: var(--warning); }
.sev.info { color: var(--info); }
.good { color: var(--ok); }
.where { color: #59636e; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .93rem; }
th, td { text-align: left; vertical-align: top; border: 1px solid var(--line); padding: .35rem .5rem; }
th { background: var(--soft); font-weight: 600; }
td.mono { word-break: break-all; }
.addr { white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
.scroll { overflow-x: auto; }
.target { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; }
ol.steps li { margin-bottom: .35rem; }
.detail { color: #59636e; font-size: .9rem; word-break: break-word; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--soft); padding: .5rem; border-radius: 4px; }
footer { color: #59636e; font-size: .85rem; padding-bottom: 2rem; }
`;

const SEVERITY_LABEL: Record<Severity, string> = { error: 'Error', warning: 'Warning', info: 'Note' };

function page(title: string, body: Safe): string {
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${markup(STYLE)}</style>
</head>
<body>
${body}
</body>
</html>
`.html;
}

function form(action: string, value: string): Safe {
  return h`<header>
<h1>Matrix federation check</h1>
<form method="get" action="${action}">
<label for="server_name">Server name</label>
<input type="text" id="server_name" name="server_name" value="${value}" placeholder="example.org" required autocomplete="off" spellcheck="false">
<button type="submit">Check</button>
</form>
</header>`;
}

export interface PageOptions {
  /** Where the form submits: the check page's own path. */
  action: string;
}

/** The form alone, with an optional message (a name that is not valid). */
export function renderHtmlForm(opts: PageOptions & { value?: string; error?: string }): string {
  const note = opts.error
    ? h`<p class="bad" id="form-error">${opts.error}</p>`
    : h`<p>Enter a Matrix server name (the part after the colon in a user ID, such as <code>example.org</code>) to see whether this server can federate with it, and if not, why and how to fix it.</p>`;
  return page('Matrix federation check', h`${form(opts.action, opts.value ?? '')}<main>${note}</main>`);
}

/** Each address kept on one line (an IPv6 address and port must never be split), the list free to wrap between them. */
function addresses(list: readonly string[]): Safe {
  return h`${list.map((a, i) => h`${i > 0 ? ', ' : ''}<span class="addr">${a}</span>`)}`;
}

function findingBlock(f: Finding): Safe {
  return h`<article class="finding ${f.severity}" data-code="${f.code}">
<h3><span class="sev ${f.severity}">${SEVERITY_LABEL[f.severity]}</span> ${f.title}</h3>
<p class="where"><code>${f.code}</code>${f.targets.length > 0 ? h` · at ${addresses(f.targets)}` : ''}</p>
<p>${f.explanation}</p>
${f.fix !== null ? h`<p class="fix"><strong>Fix:</strong> ${f.fix}</p>` : ''}
</article>`;
}

function daysLeft(c: CertificateReport): Safe {
  if (c.days_left < 0) return h`<span class="bad">expired ${-c.days_left} days ago</span>`;
  if (c.days_left < EXPIRY_WARNING_DAYS) return h`<span class="warn">${c.days_left} days left</span>`;
  return h`<span class="good">${c.days_left} days left</span>`;
}

function yesNo(ok: boolean, yes: string, no: string): Safe {
  return ok ? h`<span class="good">${yes}</span>` : h`<span class="bad">${no}</span>`;
}

function glance(r: CheckReport): Safe {
  const rows = r.targets.filter((t) => t.tls?.chain[0]);
  if (rows.length === 0) return h``;
  return h`<section id="certificates">
<h2>Certificates at a glance</h2>
<div class="scroll"><table>
<tr><th>Target</th><th>Must be valid for</th><th>Valid for</th><th>Expires</th><th>Trusted</th><th>Name</th></tr>
${rows.map((t) => {
  const tls = t.tls!;
  const leaf = tls.chain[0]!;
  return h`<tr><td><span class="addr">${hostPort(t.address, t.port)}</span></td><td>${t.tls_name}</td><td>${leaf.subject_alt_names.join(', ') || leaf.subject}</td>
<td>${leaf.not_after.slice(0, 10)}<br>${daysLeft(leaf)}</td><td>${yesNo(tls.trusted, 'yes', tls.trust_error ?? 'no')}</td><td>${yesNo(tls.name_valid, 'valid', 'wrong name')}</td></tr>`;
})}
</table></div>
</section>`;
}

function certificateRows(chain: CertificateReport[]): Safe {
  return h`${chain.map(
    (c, i) => h`<tr><th>Certificate ${i}</th><td>
<div><strong>Subject</strong> ${c.subject} · <strong>Issuer</strong> ${c.issuer}</div>
<div><strong>Names</strong> ${c.subject_alt_names.join(', ') || 'none'}</div>
<div><strong>Valid</strong> ${c.not_before} to ${c.not_after} (${daysLeft(c)})</div>
<div class="mono">SHA-256 ${c.sha256}</div>
<div class="mono">Public key ${c.public_key_sha256}</div>
<div><strong>Certificate Transparency</strong> ${c.sct ? 'SCTs embedded' : 'no SCTs'}</div>
</td></tr>`,
  )}`;
}

/** Each Ed25519 key with its own signature result. */
function keyTable(keys: readonly KeyResult[]): Safe {
  if (keys.length === 0) return h``;
  return h`<table class="keys"><tr><th>Key</th><th>Public key</th><th>Signature</th></tr>
${keys.map((k) => h`<tr><td><code>${k.key_id}</code></td><td class="mono">${k.key ?? 'none'}</td><td>${yesNo(k.signature === 'valid', SIGNATURE_TEXT.valid, SIGNATURE_TEXT[k.signature])}${k.signature === 'valid' ? '' : h`<div class="detail">${k.detail}</div>`}</td></tr>`)}
</table>`;
}

function targetBlock(t: TargetReport, i: number): Safe {
  const tls = t.tls;
  const where = hostPort(t.address, t.port);
  let tlsRows: Safe = h``;
  if (tls && !tls.ok) tlsRows = h`<tr><th>TLS</th><td class="bad">${tls.error}</td></tr>`;
  if (tls?.ok) {
    tlsRows = h`<tr><th>TLS</th><td>${tls.protocol}, ${tls.cipher}; chain ${yesNo(tls.trusted, 'trusted', `not trusted (${tls.trust_error})`)};
name ${yesNo(tls.name_valid, `valid for ${t.tls_name}`, `not valid for ${t.tls_name}`)}${tls.verification === 'exempt' ? h`; not verified: ${tls.exempt_by}` : ''}${tls.verification === 'pinned' ? h`; pinned by ${tls.exempt_by}: ${yesNo(tls.pin_ok === true, 'a pin matches', 'no pin matches')}` : ''};
${yesNo(tls.accepted, 'accepted', 'refused')}</td></tr>${certificateRows(tls.chain)}`;
  }
  const v = t.version;
  const k = t.keys;
  return h`<article class="target" id="target-${i + 1}">
<h3>${i + 1}. <span class="addr">${where}</span></h3>
<table>
<tr><th>Host header</th><td>${t.host}</td></tr>
${t.route ? h`<tr><th>Route</th><td>${t.route.rule}: ${t.route.via === 'direct' ? 'direct' : h`through SOCKS proxy ${t.route.via}`}${t.route.inherited_from ? h` (kept from ${t.route.inherited_from})` : ''}</td></tr>` : ''}
<tr><th>Certificate for</th><td>${t.tls_name} (${t.sni === null ? 'no SNI: IP address' : `SNI ${t.sni}`})${t.srv_target ? ` · via SRV target ${t.srv_target}` : ''}</td></tr>
<tr><th>TCP</th><td>${t.tcp.ok ? h`<span class="good">connected</span> in ${t.tcp.ms} ms` : h`<span class="bad">${t.tcp.error}</span>`}</td></tr>
${tlsRows}
${tls?.ok ? h`<tr><th>Version</th><td>${v ? (v.ok ? h`${v.status}: ${v.server!.name} ${v.server!.version}` : h`<span class="bad">${v.error}</span>`) : 'not asked: the certificate was refused'}</td></tr>` : ''}
${k ? h`<tr><th>Keys</th><td>${k.ok ? h`<span class="good">valid</span>: ${k.key_ids.join(', ')}, until ${k.valid_until ?? 'a date too far to show'}` : h`<span class="bad">${k.error}</span>`}
<ul>${k.checks.map((c) => h`<li>${yesNo(c.ok, '✓', '✗')} <code>${c.check}</code>: ${c.detail}</li>`)}</ul>
${keyTable(k.verify_keys ?? [])}</td></tr>` : ''}
</table>
</article>`;
}

function details(r: CheckReport): Safe {
  const wk = r.well_known;
  const c = r.client_well_known;
  return h`<section id="resolution">
<h2>Resolution</h2>
<ol class="steps">${r.resolution.steps.map((s) => h`<li><strong>${s.step}</strong> <span class="mono">${s.lookup}</span>: ${s.outcome}${s.cached ? ' (cached)' : ''}<div class="detail">${s.detail}</div></li>`)}</ol>
${r.resolution.route ? h`<p>Route: <strong>${r.resolution.route}</strong>${r.resolution.delegated_server ? h`, delegated to <strong>${r.resolution.delegated_server}</strong>` : ''}.</p>` : ''}
${r.resolution.error ? h`<p class="bad">${r.resolution.error.message}</p>` : ''}
</section>
${wk ? h`<section id="well-known">
<h2>Server well-known</h2>
<table>
<tr><th>URL</th><td class="mono">${wk.url}</td></tr>
<tr><th>Outcome</th><td>${wk.outcome}${wk.m_server ? h`: m.server <strong>${wk.m_server}</strong>` : ''}</td></tr>
${wk.responses.map((x) => h`<tr><th>Response</th><td class="mono">${x.url} → ${x.status}${x.location ? ` (Location: ${x.location})` : ''}</td></tr>`)}
${wk.cache_seconds !== null ? h`<tr><th>${wk.outcome === 'found' ? 'Cached for' : 'Failure cached for'}</th><td>${wk.cache_seconds} s${wk.header_cache_seconds !== null ? ` (headers asked for ${wk.header_cache_seconds} s)` : ''}</td></tr>` : ''}
${wk.error ? h`<tr><th>Error</th><td>${wk.error}</td></tr>` : ''}
${wk.body !== null ? h`<tr><th>Body</th><td><pre>${wk.body}</pre></td></tr>` : ''}
</table>
</section>` : ''}
${r.srv.length > 0 ? h`<section id="srv">
<h2>SRV records</h2>
<table><tr><th>Name</th><th>Outcome</th><th>Records (priority weight port target)</th></tr>
${r.srv.map((s) => h`<tr><td class="mono">${s.name}</td><td>${s.outcome}${s.used ? ' (used)' : ''}</td><td class="mono">${s.records.map((x) => `${x.priority} ${x.weight} ${x.port} ${x.target}`).join('; ')}${s.error ?? ''}</td></tr>`)}
</table>
</section>` : ''}
<section id="targets">
<h2>Targets</h2>
${r.targets.length === 0 ? h`<p>None: resolution found nowhere to connect.</p>` : h`<p>In the order servers try them.</p>`}
${r.targets.map(targetBlock)}
${r.targets_not_probed > 0 ? h`<p>${r.targets_not_probed} more targets not checked.</p>` : ''}
</section>
${c ? h`<section id="client-well-known">
<h2>Client well-known</h2>
<table>
<tr><th>URL</th><td class="mono">${c.url}</td></tr>
<tr><th>Outcome</th><td>${c.outcome}${c.status !== null ? ` (${c.status})` : ''}${c.error ? `: ${c.error}` : ''}</td></tr>
${c.status !== null ? h`<tr><th>Access-Control-Allow-Origin</th><td>${c.cors ?? h`<span class="warn">missing</span>`}</td></tr>` : ''}
${c.base_url ? h`<tr><th>m.homeserver.base_url</th><td class="mono">${c.base_url}</td></tr>` : ''}
${c.base_url_check ? h`<tr><th>Reachable</th><td>${yesNo(c.base_url_check.ok, `yes (${c.base_url_check.status})`, `no: ${c.base_url_check.error}`)}</td></tr>` : ''}
</table>
</section>` : ''}`;
}

export function renderHtmlReport(r: CheckReport, opts: PageOptions): string {
  const count = (s: Severity, one: string, many: string) => {
    const n = r.findings.filter((f) => f.severity === s).length;
    return `${n} ${n === 1 ? one : many}`;
  };
  const json = `${opts.action}?server_name=${encodeURIComponent(r.server_name)}&format=json`;
  const software = serverSoftware(r);
  const body = h`${form(opts.action, r.server_name)}
<main>
<section class="verdict ${r.federation_ok ? 'ok' : 'fail'}" id="verdict">
<h2>${r.federation_ok ? 'OK' : 'FAIL'}: ${r.server_name}</h2>
<p>${r.verdict}</p>
<p id="software">Server software: ${software.length > 0 ? software.join('; ') : 'unknown (no target answered /_matrix/federation/v1/version)'}</p>
<p>${count('error', 'error', 'errors')} · ${count('warning', 'warning', 'warnings')} · ${count('info', 'note', 'notes')} · checked ${r.checked_at} in ${r.duration_ms} ms · <a href="${json}">JSON</a></p>
</section>
<section id="findings">
<h2>Findings</h2>
${r.findings.length === 0 ? h`<p>Nothing to report.</p>` : r.findings.map(findingBlock)}
</section>
${glance(r)}
${details(r)}
</main>
<footer><p>Trust: ${r.trust} · DNS: ${r.dns_servers.join(', ')}</p></footer>`;
  return page(`${r.federation_ok ? 'OK' : 'FAIL'}: ${r.server_name} · Matrix federation check`, body);
}
