/**
 * The HTML status page in a real browser (Debian's Chromium driven by playwright-core) on a
 * 375 px phone screen: one card per shop with the figures of the JSON report, no horizontal
 * scrolling, platform text shown escaped and never run, and the admin token handled through a
 * one-time `?token=` that becomes a cookie. Chromium must be at /usr/bin/chromium (.ci/run
 * installs it); without it this file fails rather than skips.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { healthText } from '../../src/server/status-page.js';
import { prefersHtml } from '../../src/server/status-routes.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import type { ShopStatus, StatusReport } from '../../src/sync/status.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { until } from '../support/e2e.js';

const CHROMIUM = '/usr/bin/chromium';
const PHONE = { width: 375, height: 812 };
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let browser: Browser;

// The callbacks given to page.evaluate run in the browser; tsconfig has no DOM lib, so the few
// DOM names they use are declared here, for this file only.
interface DomElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
  matches(selector: string): boolean;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): Iterable<DomElement> & { readonly length: number };
}
declare const document: DomElement & {
  readonly scrollingElement: { readonly scrollWidth: number } | null;
  readonly cookie: string;
};
declare function getComputedStyle(el: unknown): { readonly backgroundColor: string };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: the status page test needs it. ` +
        'Install it with `apt-get install -y chromium` (.ci/run does so when it is missing).',
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
});

type ShopConfig = Config['shops'][number];

const shopConfig = (id: string, platform: ShopConfig['platform'], connector?: unknown): ShopConfig => ({
  id,
  platform,
  warehouses: ['MAIN'],
  reserveOn: 'paid',
  restockOn: 'receipt',
  matchOuterId: true,
  push: DEFAULT_PUSH_RULES,
  ...(connector ? { connector: connector as Record<string, unknown> } : {}),
});

/** Every `[data-k]` figure of the page, per shop card, and the overview's. */
async function pageFigures(page: Page) {
  return page.evaluate(() => {
    const figures = (root: DomElement) => {
      const out: Record<string, string> = {};
      for (const el of root.querySelectorAll('[data-k]')) {
        if (el.closest('[data-shop]') !== (root.matches('[data-shop]') ? root : null)) continue;
        out[el.getAttribute('data-k')!] = (el.textContent ?? '').trim();
      }
      const kinds = [...root.querySelectorAll('li[data-kind]')].map((li) => li.textContent);
      if (kinds.length > 0) out.exceptions = kinds.join('|');
      return out;
    };
    const overview = figures(document.querySelector('[data-k="overview"]')!);
    const shops: Record<string, Record<string, string>> = {};
    for (const card of document.querySelectorAll('[data-shop]')) {
      shops[card.getAttribute('data-shop')!] = figures(card);
    }
    return { overview, shops };
  });
}

/** What a shop card must show for figures that stay put while the system is idle. */
function expectedCard(s: ShopStatus): Record<string, string> {
  const exceptions = Object.entries(s.openExceptions)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}: ${n}`);
  return {
    health: healthText(s.health),
    platform: s.platform,
    'lease-owner': s.leaseOwner ?? '–',
    'inbox-pending': String(s.inbox.pending),
    'inbox-parked': String(s.inbox.parked),
    'push-pending': String(s.push.pending),
    'push-synced': String(s.push.synced),
    'push-suspended': String(s.push.suspended),
    'push-drifted': String(s.push.drifted),
    'push-held-back': String(s.push.heldBack),
    'push-buffered': String(s.push.buffered),
    exceptions: exceptions.length ? exceptions.join('|') : 'none',
  };
}

const pick = (all: Record<string, string>, keys: string[]) =>
  Object.fromEntries(keys.map((k) => [k, all[k]]));

describe('status page with sandbox shops', () => {
  const PLATFORMS = ['shopify', 'taobao', 'douyin'] as const;
  const sessions = new Map<string, SandboxSession>();
  let daemon: Daemon;
  let own: TestDb | undefined;
  let context: BrowserContext;
  let placed = 0;

  const json = async (accept?: string) => {
    const res = await fetch(`${daemon.url}/status`, accept ? { headers: { accept } } : {});
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    return (await res.json()) as StatusReport;
  };

  beforeAll(async () => {
    for (const [i, platform] of PLATFORMS.entries()) {
      const harness = await getConnector(platform).sandbox();
      sessions.set(`${platform}-shop`, await harness.start({ seed: i + 1, relaxedRateLimits: true }));
    }
    own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
    const base = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: own?.url ?? 'pglite:memory' });
    daemon = await startDaemon(
      {
        ...base,
        sync: { ...base.sync, pullCron: '* * * * * *', inboxIdleMs: 50, pushIdleMs: 50 },
        shops: PLATFORMS.map((p) => shopConfig(`${p}-shop`, p, sessions.get(`${p}-shop`)!.config)),
      },
      createLogger({ level: (process.env.TEST_LOG as 'info') ?? 'silent', pretty: false }),
    );
    // The demo's mapping: entry i of every catalog is SKU DEMO-i, stocked in MAIN.
    const inv = daemon.inventory;
    const main = await inv.catalog.putWarehouse({ code: 'MAIN', name: 'Main' });
    for (const [shopId, session] of sessions) {
      for (const [i, entry] of session.catalog().entries()) {
        const code = `DEMO-${String(i + 1).padStart(3, '0')}`;
        const sku = await inv.catalog.putSku({ code, name: code });
        await inv.ledger.receive({
          key: `open:${shopId}:${code}`,
          skuId: sku.id,
          warehouseId: main.id,
          quantity: 200,
        });
        await daemon.orders.putListing({
          shopId,
          platformItemId: entry.platformItemId,
          ...(entry.platformSkuId ? { platformSkuId: entry.platformSkuId } : {}),
          sku: code,
          stockRef: {
            listingId: entry.stockRef.listingId,
            ...(entry.stockRef.locationId ? { locationId: entry.stockRef.locationId } : {}),
          },
        });
      }
    }
    // A few plain paid orders per shop, placed now and only once (no generator runs). Not
    // generateOrders: its orders are back-dated by minutes, behind a watermark that a pull
    // made while the test seeded has already moved past.
    for (const s of sessions.values()) {
      const entries = s.catalog().slice(0, 3);
      for (const [i, e] of entries.entries()) await s.sell(e.stockRef, i + 1);
      placed += entries.length;
    }
    context = await browser.newContext({ viewport: PHONE });
  });
  afterAll(async () => {
    await context?.close();
    await daemon?.stop();
    for (const s of sessions.values()) await s.stop();
    await own?.drop();
  });

  it('keeps answering JSON to curl, JSON clients and requests without Accept', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const r = await json(accept);
      expect(r.shops.map((s) => s.id)).toEqual(PLATFORMS.map((p) => `${p}-shop`));
    }
    expect(prefersHtml(BROWSER_ACCEPT)).toBe(true);
    expect(prefersHtml('text/*')).toBe(true);
    expect(prefersHtml('text/html;q=0, */*')).toBe(false);
    expect(prefersHtml('text/html;q=0.8, application/json')).toBe(false);
    expect(prefersHtml('')).toBe(false);
  });

  it('shows every shop with the figures of the JSON report, on a phone screen without scrolling sideways', async () => {
    // Orders are placed once (no generator runs): wait until they are applied and pushed.
    await until(
      'orders applied and stock pushed',
      async () => {
        const perShop = await daemon.db.withSession((s) =>
          s.query<{ shop_id: string; n: number }>(
            `SELECT shop_id, COUNT(*)::int AS n FROM sales_order GROUP BY 1 ORDER BY 1`,
          ),
        );
        const r = await json();
        return {
          orders: perShop.reduce((n, s) => n + s.n, 0),
          perShop: Object.fromEntries(perShop.map((s) => [s.shop_id, s.n])),
          errors: r.shops.map((s) => s.pull.lastError).filter(Boolean),
          pending: r.inbox.pending + r.shops.reduce((n, s) => n + s.push.pending, 0),
          unsynced: r.shops.filter((s) => s.push.synced === 0).map((s) => s.id),
        };
      },
      (v) => v.orders === placed && v.pending === 0 && v.unsynced.length === 0,
      45_000,
    );
    expect(placed).toBe(PLATFORMS.length * 3);

    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // The figures compared do not move once the system is idle; the JSON before and after the
    // page load must agree, else the comparison is retried.
    const fields = Object.keys(expectedCard((await json()).shops[0]!));
    let shown: Awaited<ReturnType<typeof pageFigures>> | undefined;
    let want: Record<string, Record<string, string>> | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await json();
      const res = await page.goto(`${daemon.url}/status?refresh=0`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-type']).toMatch(/^text\/html/);
      shown = await pageFigures(page);
      const after = await json();
      const cards = (r: StatusReport) => Object.fromEntries(r.shops.map((s) => [s.id, expectedCard(s)]));
      if (JSON.stringify(cards(before)) === JSON.stringify(cards(after))) {
        want = cards(after);
        expect(shown.overview['inbox-parked']).toBe(String(after.inbox.parked));
        expect(shown.overview['inbox-done']).toBe(String(after.inbox.done));
        expect(shown.overview['inbox-pending']).toMatch(new RegExp(`^${after.inbox.pending} `));
        break;
      }
    }
    expect(want, 'the JSON report did not settle').toBeDefined();
    expect(Object.keys(shown!.shops)).toEqual(PLATFORMS.map((p) => `${p}-shop`));
    for (const [id, card] of Object.entries(want!)) {
      expect(pick(shown!.shops[id]!, fields), id).toEqual(card);
      expect(card.health).toBe('ok');
      expect(Number(card['push-synced'])).toBeGreaterThan(0);
    }
    expect(shown!.overview.database).toMatch(onPostgres ? /^PostgreSQL / : /^PGlite /);
    expect(shown!.overview['replica-id']).toBe(daemon.replicaId);
    expect(shown!.overview.process).toMatch(
      /^RSS \d+ MB · event loop delay p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms \(last \d+ s; up /,
    );

    // The stylesheet applied (its CSP hash matches): the ok badge is green.
    const badge = page.locator('[data-shop="shopify-shop"] [data-k="health"]');
    await expect
      .poll(() => badge.evaluate((el) => getComputedStyle(el).backgroundColor))
      .toBe('rgb(26, 127, 55)');
    expect(await page.evaluate(() => document.scrollingElement!.scrollWidth)).toBeLessThanOrEqual(
      PHONE.width,
    );
    expect(errors).toEqual([]);

    // On a desktop the cards sit side by side.
    await page.setViewportSize({ width: 1280, height: 800 });
    const tops = await page
      .locator('[data-shop]')
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().top));
    expect(tops[0]).toBe(tops[1]);
    await page.close();
  });

  it('serves headers that allow nothing external, and refreshes itself by default', async () => {
    const res = await fetch(`${daemon.url}/status`, { headers: { accept: BROWSER_ACCEPT } });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|https?:|\*/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('vary')).toMatch(/accept/i);
    const html = await res.text();
    expect(html).toMatch(/<meta http-equiv="refresh" content="5">/);
    expect(html).not.toMatch(/<script|<link|src=/i);
  });

  it('redirects / to /status', async () => {
    const res = await fetch(`${daemon.url}/`, { redirect: 'manual' });
    expect(res.status, 'the daemon mounts statusRootRedirect() (src/server/status-routes.ts) at /').toBe(302);
    expect(res.headers.get('location')).toBe('/status');
    const page = await context.newPage();
    await page.goto(`${daemon.url}/`);
    expect(page.url()).toBe(`${daemon.url}/status`);
    await expect.poll(() => page.locator('[data-shop]').count()).toBe(PLATFORMS.length);
    await page.close();
  });

  it('shows a paused shop with its reason, escaped: markup from a reason is text and never runs', async () => {
    const evil = `<script>alert(1)</script><img src=x onerror="alert(2)">`;
    const long = `token-${'x'.repeat(300)}`;
    for (const [shop, reason] of [
      ['taobao-shop', evil],
      ['douyin-shop', long],
    ]) {
      const res = await fetch(`${daemon.url}/api/shops/${shop}/pause`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason }),
      });
      expect(res.status).toBe(200);
    }
    const report = await json();
    const taobao = report.shops.find((s) => s.id === 'taobao-shop')!;
    expect(taobao.health).toBe('paused');

    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${daemon.url}/status?refresh=0`);
    const card = page.locator('[data-shop="taobao-shop"]');
    expect(await card.locator('[data-k="health"]').textContent()).toBe('paused');
    expect(await card.locator('[data-k="paused-reason"]').textContent()).toBe(taobao.paused!.reason);
    expect(taobao.paused!.reason).toContain(evil);
    expect(await card.locator('[data-k="paused-since"] time').getAttribute('datetime')).toBe(
      taobao.paused!.since,
    );
    expect(await page.locator('[data-shop="douyin-shop"] [data-k="paused-reason"]').textContent()).toContain(
      long,
    );
    expect(await page.locator('[data-shop="shopify-shop"] [data-k="health"]').textContent()).toBe('ok');
    expect(await page.evaluate(() => document.querySelectorAll('script, img').length)).toBe(0);
    expect(dialogs).toEqual([]);
    // A 300-character word wraps instead of widening the page.
    expect(await page.evaluate(() => document.scrollingElement!.scrollWidth)).toBeLessThanOrEqual(
      PHONE.width,
    );
    await page.close();
  });
});

describe('status page behind an admin token', () => {
  const TOKEN = 'status-page-test-token-0123456789';
  let daemon: Daemon;
  let own: TestDb | undefined;
  const logLines: string[] = [];

  beforeAll(async () => {
    own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
    const base = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: own?.url ?? 'pglite:memory',
      ADMIN_TOKEN: TOKEN,
    });
    daemon = await startDaemon(
      { ...base, shops: [shopConfig('manual-shop', 'woocommerce')] },
      createLogger(
        { level: 'info', pretty: false },
        { destination: { write: (s: string) => void logLines.push(s) } },
      ),
    );
  });
  afterAll(async () => {
    await daemon?.stop();
    await own?.drop();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${daemon.url}${path}`, { redirect: 'manual', headers: { accept: BROWSER_ACCEPT, ...headers } });

  it('keeps the JSON behind the bearer token', async () => {
    const none = await fetch(`${daemon.url}/status`);
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^application\/json/);
    const ok = await fetch(`${daemon.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as StatusReport).shops.map((s) => s.id)).toEqual(['manual-shop']);
  });

  it('refuses the page without auth and with a wrong token or cookie', async () => {
    const none = await get('/status');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^text\/html/);
    expect(none.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await none.text()).not.toContain('manual-shop');

    const wrong = await get(`/status?token=${TOKEN.slice(0, -1)}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.getSetCookie()).toEqual([]);

    expect((await get('/status', { cookie: `stockd_status=${TOKEN}` })).status).toBe(401);
    expect((await get('/status', { cookie: 'stockd_status=forged' })).status).toBe(401);
  });

  it('turns ?token= into an HttpOnly SameSite=Strict cookie, then serves the page with it', async () => {
    const res = await get(`/status?token=${TOKEN}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/status');
    const [cookie] = res.headers.getSetCookie();
    expect(cookie).toMatch(/^stockd_status=[^;]+;/);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\/status(;|$)/);
    expect(cookie).not.toContain(TOKEN);
    const pair = cookie!.split(';')[0]!;
    expect((await get('/status', { cookie: pair })).status).toBe(200);
    // The cookie opens the page, not the JSON (that stays bearer-only).
    expect((await fetch(`${daemon.url}/status`, { headers: { cookie: pair } })).status).toBe(401);
    // A bearer header opens the page too.
    expect((await get('/status', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('signs a browser in once through ?token= and keeps it signed in', async () => {
    const context = await browser.newContext({ viewport: PHONE });
    try {
      const page = await context.newPage();
      const refused = await page.goto(`${daemon.url}/status`);
      expect(refused?.status()).toBe(401);
      expect(await page.locator('h1').textContent()).toBe('Sign in');

      const wrong = await page.goto(`${daemon.url}/status?token=not-the-token-at-all`);
      expect(wrong?.status()).toBe(401);
      expect(await context.cookies()).toEqual([]);

      const res = await page.goto(`${daemon.url}/status?token=${encodeURIComponent(TOKEN)}`);
      expect(res?.status()).toBe(200);
      expect(page.url()).toBe(`${daemon.url}/status`);
      expect(res?.request().redirectedFrom()?.url()).toContain('token=');
      const cookies = await context.cookies();
      expect(cookies).toEqual([
        expect.objectContaining({
          name: 'stockd_status',
          httpOnly: true,
          sameSite: 'Strict',
          path: '/status',
        }),
      ]);
      // The rest without the page's auto-refresh reloading it under the test.
      expect((await page.goto(`${daemon.url}/status?refresh=0`))?.status()).toBe(200);
      expect(await page.locator('[data-shop="manual-shop"] [data-k="health"]').textContent()).toBe(
        'not connected',
      );
      expect(await page.evaluate(() => document.scrollingElement!.scrollWidth)).toBeLessThanOrEqual(
        PHONE.width,
      );
      expect(await page.evaluate(() => document.cookie)).toBe('');

      const again = await page.reload();
      expect(again?.status()).toBe(200);
    } finally {
      await context.close();
    }
  });

  it('never logs the token', async () => {
    expect(logLines.some((l) => l.includes('"path":"/status"'))).toBe(true);
    expect(logLines.join('\n')).not.toContain(TOKEN);
  });
});
