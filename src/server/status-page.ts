/**
 * The status page: the {@link StatusReport} rendered as one small HTML document for a phone or
 * a desktop browser (GET /status with `Accept` preferring text/html, see status-routes.ts).
 *
 * Server-side rendered, no script at all, one inline stylesheet allowed by its hash in
 * {@link STATUS_PAGE_CSP}, so the page loads nothing from anywhere. It refreshes itself with
 * `<meta http-equiv="refresh">`, which needs no JavaScript. Every value from the report is
 * escaped: shop ids, pause reasons and error messages come from configuration and from the
 * platforms, and are treated as untrusted text.
 */

import { createHash } from 'node:crypto';
import type { ProcessStats } from '../process-stats.js';
import type { ShopHealth, ShopStatus, StatusReport } from '../sync/status.js';

/** Auto-refresh interval of the page by default, in seconds (`?refresh=0` turns it off). */
export const DEFAULT_REFRESH_SECONDS = 5;

const CSS = `
:root{--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;--warn:#9a3412}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;--warn:#fdba74}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;padding:12px;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei",sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.25rem;margin:0 0 4px}
h2{font-size:1.05rem;margin:0;flex:1 1 auto;min-width:0}
p{margin:4px 0}
a{color:inherit}
.muted{color:var(--muted);font-size:.875rem}
.box,.shop{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;margin:0 0 12px}
.shops{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr))}
.shops .shop{margin:0;border-left-width:6px}
.shop header{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;margin-bottom:6px}
dl{display:grid;grid-template-columns:minmax(0,11em) minmax(0,1fr);gap:2px 10px;margin:0}
dt{color:var(--muted)}
dd{margin:0;min-width:0}
ul{margin:0;padding-left:1.1em}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;color:#fff;font-weight:600;font-size:.85rem;white-space:nowrap}
.h-ok{border-left-color:#1a7f37}.h-ok .badge{background:#1a7f37}
.h-throttled{border-left-color:#9a6700}.h-throttled .badge{background:#9a6700}
.h-error{border-left-color:#cf222e}.h-error .badge{background:#cf222e}
.h-paused{border-left-color:#8250df}.h-paused .badge{background:#8250df}
.h-not_connected{border-left-color:#6e7781}.h-not_connected .badge{background:#6e7781}
.bad{color:var(--warn);font-weight:600}
.msg div{white-space:pre-wrap}
.msg{margin:2px 0 6px;padding:6px 8px;border-radius:6px;background:var(--bg);border:1px solid var(--line)}
@media (max-width:420px){body{padding:8px}dl{grid-template-columns:minmax(0,9.5em) minmax(0,1fr)}}
`.trim();

/**
 * Content-Security-Policy of the status page (and of its error pages): nothing may be loaded
 * or run; the one inline stylesheet is allowed by its hash, so an injected `<style>` or
 * `<script>` would be refused too, should escaping ever fail.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

const HEALTH_TEXT: Record<ShopHealth, string> = {
  ok: 'ok',
  throttled: 'throttled',
  error: 'error',
  paused: 'paused',
  not_connected: 'not connected',
};

/** The words a shop's health badge shows (the colour says the same). */
export function healthText(health: ShopHealth): string {
  return HEALTH_TEXT[health] ?? String(health);
}

/** `42 s`, `5 min 3 s`, `2 h 10 min`, `3 d 4 h`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const h = Math.floor((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${h ? ` ${h} h` : ''}`;
}

function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** `2025-11-11 00:00:05 UTC`, in a `<time>` element, with how long ago (or ahead) of `now`. */
function time(iso: string | null, now: number): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return escapeHtml(iso);
  const text = `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  const diff = (now - t) / 1000;
  const rel =
    Math.abs(diff) < 1 ? 'now' : diff > 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(text)}</time> <span class="muted">(${rel})</span>`;
}

/** One `<dt>`/`<dd>` row; `html` is already escaped. `key` names the figure for tests and scrapers. */
function row(label: string, key: string, html: string, bad = false): string {
  return `<dt>${escapeHtml(label)}</dt><dd data-k="${escapeHtml(key)}"${bad ? ' class="bad"' : ''}>${html}</dd>`;
}

const num = (n: number) => escapeHtml(n);

/** A labelled block of free text (a pause reason, a platform's error message). */
function message(label: string, key: string, text: string, bad = false): string {
  return (
    `<div class="msg${bad ? ' bad' : ''}"><span class="muted">${escapeHtml(label)}</span>` +
    `<div data-k="${escapeHtml(key)}">${escapeHtml(text)}</div></div>`
  );
}

function databaseKind(url: string): string {
  if (url.startsWith('pglite:')) return 'PGlite';
  if (/^postgres(ql)?:/.test(url)) return 'PostgreSQL';
  return 'unknown';
}

function shopCard(s: ShopStatus, now: number): string {
  const rows: string[] = [];
  const p = s.push;
  rows.push(row('platform', 'platform', escapeHtml(s.platform)));
  if (s.paused) {
    rows.push(row('paused since', 'paused-since', time(s.paused.since, now), true));
  }
  if (s.throttledUntil)
    rows.push(row('throttled until', 'throttled-until', time(s.throttledUntil, now), true));
  rows.push(row('lease owner', 'lease-owner', s.leaseOwner ? escapeHtml(s.leaseOwner) : '–'));
  rows.push(
    row(
      'pull lag',
      'pull-lag',
      s.pull.lagSeconds === null ? 'never pulled' : escapeHtml(formatDuration(s.pull.lagSeconds)),
    ),
  );
  rows.push(row('last pull', 'pull-last', time(s.pull.lastAt, now)));
  rows.push(row('inbox pending', 'inbox-pending', num(s.inbox.pending)));
  rows.push(row('inbox parked', 'inbox-parked', num(s.inbox.parked), s.inbox.parked > 0));
  rows.push(row('push pending', 'push-pending', num(p.pending)));
  rows.push(
    row(
      'oldest waiting',
      'push-oldest',
      p.oldestPendingSeconds === null ? '–' : escapeHtml(formatDuration(p.oldestPendingSeconds)),
      (p.oldestPendingSeconds ?? 0) > 60,
    ),
  );
  rows.push(row('push synced', 'push-synced', num(p.synced)));
  rows.push(row('suspended listings', 'push-suspended', num(p.suspended), p.suspended > 0));
  rows.push(
    row(
      'push latency p50 / p95',
      'push-latency',
      `<span data-k="latency-p50">${escapeHtml(formatMs(p.latencyMs.p50))}</span> / ` +
        `<span data-k="latency-p95">${escapeHtml(formatMs(p.latencyMs.p95))}</span>` +
        ` <span class="muted">(${num(p.latencyMs.count)} in 1 h)</span>`,
    ),
  );
  rows.push(row('last push', 'push-last', time(p.lastPushAt, now)));
  rows.push(row('drifted listings', 'push-drifted', num(p.drifted), p.drifted > 0));
  rows.push(row('units held back', 'push-held-back', num(p.heldBack)));
  rows.push(row('units buffered', 'push-buffered', num(p.buffered)));
  const kinds = Object.entries(s.openExceptions).filter(([, n]) => n > 0);
  rows.push(
    row(
      'open exceptions',
      'exceptions',
      kinds.length === 0
        ? 'none'
        : `<ul>${kinds
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, n]) => `<li data-kind="${escapeHtml(k)}">${escapeHtml(k)}: ${num(n)}</li>`)
            .join('')}</ul>`,
      kinds.length > 0,
    ),
  );
  const messages: string[] = [];
  if (s.paused) {
    messages.push(message('pause reason', 'paused-reason', s.paused.reason || 'paused'));
  }
  if (s.pull.lastError) {
    messages.push(message('last pull error', 'pull-error', s.pull.lastError, true));
  }
  return (
    `<article class="shop h-${escapeHtml(s.health)}" data-shop="${escapeHtml(s.id)}">` +
    `<header><h2>${escapeHtml(s.id)}</h2>` +
    `<span class="badge" data-k="health">${escapeHtml(healthText(s.health))}</span></header>` +
    messages.join('') +
    `<dl>${rows.join('')}</dl></article>`
  );
}

function summary(shops: readonly ShopStatus[]): string {
  const counts = new Map<string, number>();
  for (const s of shops) counts.set(healthText(s.health), (counts.get(healthText(s.health)) ?? 0) + 1);
  const parts = [...counts].map(([h, n]) => `${n} ${h}`);
  return `${shops.length} shop${shops.length === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

export interface StatusPageOptions {
  /** Seconds between automatic reloads; 0 or null: none. Default {@link DEFAULT_REFRESH_SECONDS}. */
  refreshSeconds?: number | null;
}

/**
 * This process: memory, and how long callbacks waited for the event loop over the last minute
 * (flagged from 100 ms at p99: webhooks are being answered late).
 */
function processRow(p: ProcessStats): string {
  const d = p.eventLoopDelay;
  return row(
    'process',
    'process',
    `RSS ${num(p.rssMb)} MB · event loop delay p50 ${num(d.p50)} ms, p99 ${num(d.p99)} ms, max ${num(d.max)} ms ` +
      `<span class="muted">(last ${escapeHtml(formatDuration(d.windowSeconds))}; up ${escapeHtml(formatDuration(p.uptimeSeconds))})</span>`,
    d.p99 >= 100,
  );
}

/** The whole status page as an HTML document. */
export function renderStatusPage(report: StatusReport, options: StatusPageOptions = {}): string {
  const refresh = options.refreshSeconds === undefined ? DEFAULT_REFRESH_SECONDS : options.refreshSeconds;
  const now = Date.parse(report.generatedAt) || Date.now();
  const inbox = report.inbox;
  const replicas =
    report.replicas.length === 0
      ? '–'
      : `<ul>${report.replicas
          .map(
            (r) =>
              `<li data-replica="${escapeHtml(r.id)}">${escapeHtml(r.id)}${r.id === report.replicaId ? ' (this one)' : ''}` +
              ` <span class="muted">seen ${escapeHtml(formatDuration(r.seenSecondsAgo))} ago, ` +
              `${num(r.shops)} shop${r.shops === 1 ? '' : 's'}</span></li>`,
          )
          .join('')}</ul>`;
  const refreshNote = refresh
    ? `refreshes every ${num(refresh)} s · <a href="?refresh=0">stop</a>`
    : `auto-refresh off · <a href="?refresh=${DEFAULT_REFRESH_SECONDS}">turn on</a>`;
  const title = `stockd · ${summary(report.shops)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh ? `<meta http-equiv="refresh" content="${num(refresh)}">\n` : ''}<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>stockd status</h1>
<p class="muted">generated ${time(report.generatedAt, now)} · ${refreshNote} · <a href="?">reload</a></p>
<section class="box" data-k="overview">
<p><strong data-k="summary">${escapeHtml(summary(report.shops))}</strong></p>
<dl>
${row('database', 'database', `${escapeHtml(databaseKind(report.database))} <span class="muted">${escapeHtml(report.database)}</span>`)}
${row('this replica', 'replica-id', report.replicaId ? escapeHtml(report.replicaId) : 'sync disabled')}
${row('replicas', 'replicas', replicas)}
${row('inbox pending', 'inbox-pending', `${num(inbox.pending)} <span class="muted">(${num(inbox.due)} due, ${num(inbox.hints)} re-fetch hints)</span>`)}
${row('inbox parked', 'inbox-parked', num(inbox.parked), inbox.parked > 0)}
${row('inbox done', 'inbox-done', num(inbox.done))}
${row('oldest pending', 'inbox-oldest', time(inbox.oldestPendingAt, now))}
${report.process ? processRow(report.process) : ''}
</dl>
</section>
<main class="shops">
${report.shops.map((s) => shopCard(s, now)).join('\n')}
</main>
</body>
</html>
`;
}

/** A small page for refusals (401): title and message, same stylesheet and CSP, no refresh. */
export function renderMessagePage(title: string, message: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(`stockd · ${title}`)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<section class="box"><p>${escapeHtml(message)}</p></section>
</body>
</html>
`;
}
