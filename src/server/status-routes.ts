/**
 * `GET /status`: what the daemon reports about itself (see src/sync/status.ts), as JSON
 * (`{ shops: [...], ... }`) or, for a browser, as the HTML status page (status-page.ts).
 *
 * Content negotiation: the page is served when the request's `Accept` rates `text/html` above
 * `application/json` (browsers list `text/html` first and any type at q=0.8); everything else
 * (curl's any type, `application/json`, no header) gets the JSON.
 *
 * Auth, with an admin token set (without one the daemon listens on loopback only and both are
 * open):
 * - JSON needs `Authorization: Bearer <token>`, as the admin API does.
 * - The page accepts the same header, or a cookie a browser gets once: opening
 *   `/status?token=<token>` sets `stockd_status` (HttpOnly, SameSite=Strict, Path=/status,
 *   30 days) and redirects to `/status`, so the token leaves the address bar and the history.
 *   The cookie holds an HMAC of the token, not the token, so it opens the status page only,
 *   and changing the token revokes it. Comparisons are constant-time. The request log records
 *   the path without the query string (app.ts), so the token is never logged.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { StatusReport } from '../sync/status.js';
import { type AppEnv, errorBody } from './app.js';
import {
  DEFAULT_REFRESH_SECONDS,
  renderMessagePage,
  renderStatusPage,
  STATUS_PAGE_CSP,
} from './status-page.js';

/** Name of the cookie that opens the status page once `?token=` was given. */
export const STATUS_COOKIE = 'stockd_status';
const COOKIE_MAX_AGE_SECONDS = 30 * 24 * 3600;

export function statusRouter(deps: { report: () => Promise<StatusReport>; token: string | undefined }) {
  const r = new Hono<AppEnv>();
  r.get('/', async (c) => {
    c.header('vary', 'Accept');
    if (!prefersHtml(c.req.header('accept'))) {
      if (deps.token !== undefined && !authorized(c.req.header('authorization'), deps.token))
        return c.json(
          errorBody(c.get('requestId'), 'unauthorized', 'missing or invalid Authorization: Bearer <token>'),
          401,
        );
      return c.json(await deps.report());
    }
    return page(c, deps);
  });
  return r;
}

/** `GET /` → 302 `/status`. Mounted at `/` by the daemon. */
export function statusRootRedirect(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/', (c) => c.redirect('/status', 302));
  return r;
}

async function page(
  c: Context<AppEnv>,
  deps: { report: () => Promise<StatusReport>; token: string | undefined },
): Promise<Response> {
  c.header('content-security-policy', STATUS_PAGE_CSP);
  c.header('x-content-type-options', 'nosniff');
  c.header('x-frame-options', 'DENY');
  c.header('referrer-policy', 'no-referrer');
  c.header('cache-control', 'no-store');
  const given = c.req.query('token');
  if (given !== undefined) {
    if (deps.token === undefined) return c.redirect('/status', 302);
    if (!sameSecret(given, deps.token)) {
      return c.html(
        renderMessagePage(
          'Wrong token',
          'The token in the address is not the admin token. Nothing was stored.',
        ),
        401,
      );
    }
    setCookie(c, STATUS_COOKIE, cookieValue(deps.token), {
      path: '/status',
      httpOnly: true,
      sameSite: 'Strict',
      secure: isHttps(c),
      maxAge: COOKIE_MAX_AGE_SECONDS,
    });
    return c.redirect('/status', 302);
  }
  if (deps.token !== undefined) {
    const cookie = getCookie(c, STATUS_COOKIE);
    const ok =
      authorized(c.req.header('authorization'), deps.token) ||
      (cookie !== undefined && sameSecret(cookie, cookieValue(deps.token)));
    if (!ok) {
      return c.html(
        renderMessagePage(
          'Sign in',
          'This status page needs the admin token. Open /status?token=<admin token> once in this browser: ' +
            'it stores a cookie for the status page and takes the token out of the address.',
        ),
        401,
      );
    }
  }
  const refresh = refreshSeconds(c.req.query('refresh'));
  return c.html(renderStatusPage(await deps.report(), { refreshSeconds: refresh }));
}

/** `?refresh=<seconds>`: 0 turns auto-refresh off; 2..3600; anything else the default. */
function refreshSeconds(q: string | undefined): number {
  if (q === undefined || !/^[0-9]{1,5}$/.test(q)) return DEFAULT_REFRESH_SECONDS;
  const n = Number(q);
  return n === 0 ? 0 : Math.min(3600, Math.max(2, n));
}

/**
 * True when `Accept` rates `text/html` higher than `application/json`. Each type takes the
 * quality of its most specific matching range (`text/html`, then `text/` any, then any type); a
 * tie, as with any type alone or no header, means JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const [type = '', subtype = ''] = range.split('/');
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]+)$/.exec(p);
      if (m) q = Math.min(1, Math.max(0, Number(m[1]) || 0));
    }
    return { type, subtype, q };
  });
  const quality = (type: string, subtype: string) => {
    let best = -1;
    let q = 0;
    for (const r of ranges) {
      const specificity =
        r.type === type && r.subtype === subtype
          ? 2
          : r.type === type && r.subtype === '*'
            ? 1
            : r.type === '*' && r.subtype === '*'
              ? 0
              : -1;
      if (specificity > best) {
        best = specificity;
        q = r.q;
      }
    }
    return q;
  };
  const html = quality('text', 'html');
  return html > 0 && html > quality('application', 'json');
}

function isHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/** The status cookie's value for `token`: an HMAC, so the cookie does not carry the token. */
function cookieValue(token: string): string {
  return createHmac('sha256', token).update('stockd status page cookie v1').digest('base64url');
}

/** Constant-time equality of two secrets of any length (their digests are compared). */
function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function authorized(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
