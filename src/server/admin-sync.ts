/**
 * Admin endpoints of the sync engine, mounted under `/api` (the admin router's bearer auth
 * guards them): pause and resume a shop, and the stock push outbox per listing (what we want a
 * platform to show, what it last accepted, errors, drift, units held back).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import { NotFoundError } from '../domain/errors.js';
import type { Inventory } from '../inventory/index.js';
import { parseInput } from '../inventory/validation.js';
import type { SyncEngine } from '../sync/engine.js';
import { pauseShop, resumeShop } from '../sync/shop-pause.js';
import type { AppEnv } from './app.js';
import { readJson } from './json-body.js';

const pauseBody = z.strictObject({ reason: z.string().trim().min(1).max(2000) });

const pushQuery = z.strictObject({
  shopId: z.string().min(1).optional(),
  status: z.enum(['pending', 'synced', 'failed', 'suspended']).optional(),
  drifted: z.enum(['true', 'false']).optional(),
  after: z
    .string()
    .regex(/^[0-9]{1,9}$/, 'expected a listing id')
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,2}$/, 'expected 1 to 999')
    .transform(Number)
    .optional(),
});

export function syncRouter(deps: {
  inventory: Inventory;
  shopIds: readonly string[];
  engine: SyncEngine | undefined;
}): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const shopOf = (id: string) => {
    if (!deps.shopIds.includes(id)) throw new NotFoundError('shop', [id]);
    return id;
  };

  r.post('/shops/:shopId/pause', async (c) => {
    const shopId = shopOf(c.req.param('shopId'));
    const body = parseInput(pauseBody, await readJson(c), 'pause');
    await pauseShop(deps.inventory, shopId, body.reason, 'admin');
    return c.json({ shopId, paused: true });
  });

  r.post('/shops/:shopId/resume', async (c) => {
    const shopId = shopOf(c.req.param('shopId'));
    const resumed = deps.engine ? await deps.engine.resume(shopId) : await resumeShop(deps.inventory, shopId);
    return c.json({ shopId, paused: false, wasPaused: resumed });
  });

  r.get('/push', async (c) => {
    const q = parseInput(pushQuery, c.req.query(), 'push query');
    if (q.shopId !== undefined) shopOf(q.shopId);
    const status = q.status;
    const limit = q.limit ?? 100;
    // Pending with no unpushed change is in sync, due for a read-back only (push-changes.ts).
    const rows = await deps.inventory.transaction((tx) =>
      tx.query<Record<string, unknown>>(sql`
        WITH p AS (
          SELECT p.*, CASE WHEN p.status = 'failed' THEN 'suspended'
                           WHEN p.status = 'pending' AND p.pending_since IS NULL THEN 'synced'
                           ELSE p.status::text END AS shown
          FROM stock_push p
        )
        SELECT l.id AS "listingId", l.shop_id AS "shopId", l.platform_item_id AS "platformItemId",
               NULLIF(l.platform_sku_id, '') AS "platformSkuId", s.code AS sku, l.stock_ref AS "stockRef",
               p.shown AS status,
               p.desired, p.pushed, p.pushed_at AS "pushedAt", p.buffer, p.held_back AS "heldBack",
               p.platform_qty AS "platformQuantity", p.read_at AS "readAt", p.drift, p.drift_at AS "driftAt",
               p.attempts, p.last_error AS "lastError", p.latency_ms AS "latencyMs",
               p.next_attempt_at AS "nextAttemptAt"
        FROM p JOIN listing l ON l.id = p.listing_id JOIN sku s ON s.id = l.sku_id
        WHERE (${q.shopId ?? null}::text IS NULL OR l.shop_id = ${q.shopId ?? null})
          AND (${status ?? null}::text IS NULL OR p.shown = ${status ?? null})
          AND (${q.drifted ?? null}::text IS NULL OR (p.drift IS NOT NULL) = (${q.drifted ?? null} = 'true'))
          AND l.id > ${q.after ?? 0}
        ORDER BY l.id LIMIT ${limit + 1}`),
    );
    const page = rows.slice(0, limit);
    return c.json({
      items: page,
      nextAfter: rows.length > limit ? (page.at(-1)!.listingId as number) : null,
    });
  });

  return r;
}
