/**
 * The daemon receiving signed webhooks from a marketplace sandbox over real HTTP: stored in the
 * inbox before the reply, applied by the processor, deduplicated on redelivery; a tampered
 * delivery is refused with nothing stored.
 */
import { createHmac } from 'node:crypto';
import axios from 'axios';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { systemClock } from '../../src/server/app.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { freePort } from '../support/e2e.js';

const SHOP = 'shopify-main';

let sandbox: SandboxSession;
let daemon: Daemon;
let own: TestDb | undefined;

beforeAll(async () => {
  const port = await freePort();
  sandbox = await (await getConnector('shopify').sandbox()).start({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/shopify/${SHOP}`,
    relaxedRateLimits: true,
  });
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  const base = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: own?.url ?? 'pglite:memory',
  });
  const config = {
    ...base,
    // This test drives the inbox by hand; the background worker and scheduler stay off.
    sync: { ...base.sync, enabled: false },
    shops: [
      {
        id: SHOP,
        platform: 'shopify' as const,
        warehouses: ['SH'],
        reserveOn: 'paid' as const,
        restockOn: 'receipt' as const,
        matchOuterId: true,
        push: DEFAULT_PUSH_RULES,
        connector: sandbox.config as Record<string, unknown>,
      },
    ],
  };
  daemon = await startDaemon(config, createLogger({ level: 'silent', pretty: false }));
  const wh = (await daemon.inventory.catalog.putWarehouse({ code: 'SH', name: 'Shanghai' })).id;
  for (let p = 1; p <= 4; p++) {
    for (const colour of ['GREEN', 'RED', 'BLACK']) {
      const sku = await daemon.inventory.catalog.putSku({
        code: `SKU-${p}-${colour}`,
        name: `${p} ${colour}`,
      });
      await daemon.inventory.ledger.receive({
        key: `open-${sku.id}`,
        skuId: sku.id,
        warehouseId: wh,
        quantity: 1000,
      });
    }
  }
});
afterAll(async () => {
  await daemon?.stop();
  await sandbox?.stop();
  await own?.drop();
});

const count = async (sqlText: string) => {
  const rows = await daemon.db.withSession((s) => s.query<{ n: number }>(sqlText));
  return rows[0]!.n;
};

describe('webhooks from a sandbox shop', () => {
  it('stores each signed delivery before replying, applies it, and drops redeliveries', async () => {
    const ids = await sandbox.generateOrders(6);
    for (const id of ids) await sandbox.deliverOrderWebhook(id);
    expect(await count(`SELECT COUNT(*)::int AS n FROM inbox_event WHERE shop_id = '${SHOP}'`)).toBe(6);
    while ((await daemon.orders.processBatch(50)).claimed > 0) {}
    expect(await count(`SELECT COUNT(*)::int AS n FROM sales_order WHERE shop_id = '${SHOP}'`)).toBe(6);
    expect(await count(`SELECT COUNT(*)::int AS n FROM inbox_event WHERE status <> 'done'`)).toBe(0);
    // Stock moved for the paid ones, and the books still balance.
    expect(await count(`SELECT COUNT(*)::int AS n FROM reservation`)).toBeGreaterThan(0);
    expect(await daemon.inventory.verify()).toMatchObject({ ok: true });

    // A platform redelivering one delivery (same event id, same bytes) is stored once.
    const body = JSON.stringify({ id: 99, order_id: 424242 });
    const secret = (sandbox.config as { apiSecret: string }).apiSecret;
    const signed = {
      'content-type': 'application/json',
      'x-shopify-topic': 'refunds/create',
      'x-shopify-hmac-sha256': createHmac('sha256', secret).update(body).digest('base64'),
      'x-shopify-event-id': 'evt-redelivered-1',
    };
    const before = await count(`SELECT COUNT(*)::int AS n FROM inbox_event`);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${daemon.url}/webhooks/shopify/${SHOP}`, {
        method: 'POST',
        headers: signed,
        body,
      });
      expect(res.status).toBe(200);
    }
    expect(await count(`SELECT COUNT(*)::int AS n FROM inbox_event`)).toBe(before + 1);
    // Re-fetch hints wait for the shop's resolver, not the inbox worker (which applies only
    // events carrying their order). That hint names an order the platform does not have:
    // reading it back parks the event. A hint about a real order is read back through the
    // connector; its revision is already stored, so nothing new is queued.
    const hint = JSON.stringify({ id: 100, order_id: Number(ids[1]) });
    const res = await fetch(`${daemon.url}/webhooks/shopify/${SHOP}`, {
      method: 'POST',
      headers: {
        ...signed,
        'x-shopify-hmac-sha256': createHmac('sha256', secret).update(hint).digest('base64'),
        'x-shopify-event-id': 'evt-hint-2',
      },
      body: hint,
    });
    expect(res.status).toBe(200);
    expect(await daemon.orders.processBatch(50)).toMatchObject({ claimed: 0 });
    expect(await daemon.orders.inboxCounts()).toMatchObject({ pending: 2, hints: 2 });
    const connector = getConnector('shopify').create(sandbox.config, {
      http: axios.create(),
      log: pino({ level: 'silent' }),
      clock: systemClock,
    });
    const report = await daemon.orders.resolveHints(SHOP, (id) => connector.fetchOrder(id), 50);
    expect(report).toMatchObject({ claimed: 2, orders: 1, stored: 0, parked: 1, retried: 0 });
    expect(await daemon.orders.inboxCounts()).toMatchObject({ pending: 0, hints: 0, parked: 1 });
    expect(await count(`SELECT COUNT(*)::int AS n FROM sales_order WHERE shop_id = '${SHOP}'`)).toBe(6);
  });

  it('refuses a tampered delivery with 401 and stores nothing; an unknown shop is 404', async () => {
    const before = await count(`SELECT COUNT(*)::int AS n FROM inbox_event`);
    const res = await fetch(`${daemon.url}/webhooks/shopify/${SHOP}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-shopify-topic': 'orders/create',
        'x-shopify-hmac-sha256': 'bm90IGEgcmVhbCBzaWduYXR1cmU=',
        'x-shopify-event-id': 'forged-1',
      },
      body: JSON.stringify({ id: 1, line_items: [] }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'webhook_rejected' });
    expect(await count(`SELECT COUNT(*)::int AS n FROM inbox_event`)).toBe(before);
    expect((await fetch(`${daemon.url}/webhooks/shopify/nope`, { method: 'POST', body: '{}' })).status).toBe(
      404,
    );
    expect(
      (await fetch(`${daemon.url}/webhooks/taobao/${SHOP}`, { method: 'POST', body: '{}' })).status,
    ).toBe(404);
  });
});
