import type { CanonicalOrderInput } from '../../src/domain/order.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Orders, type ShopSettings } from '../../src/orders/index.js';
import { type InventoryFixture, inventoryFixture } from './inventory.js';

export const SHOP: ShopSettings = {
  id: 'tmall-main',
  platform: 'taobao',
  warehouses: ['SH', 'BJ'],
  reserveOn: 'paid',
  restockOn: 'receipt',
  matchOuterId: true,
};

export interface OrdersFixture extends InventoryFixture {
  orders: Orders;
  /** Stores `order` as a delivery and processes the inbox until it is empty. */
  deliver(order: CanonicalOrderInput, source?: 'webhook' | 'pull', dedupeKey?: string): Promise<void>;
  drain(): Promise<void>;
  lineState(lineKey: string): Promise<{ active: number; consumed: number; released: number }>;
  openExceptions(kind?: string): Promise<{ kind: string; subject: string; quantity: number | null }[]>;
}

export async function ordersFixture(
  shops: ShopSettings[] = [SHOP],
  log: Logger = createLogger({ level: 'silent', pretty: false }),
): Promise<OrdersFixture> {
  const f = await inventoryFixture();
  const orders = new Orders(f.inv, shops, log, {
    retryBaseMs: 1,
  });
  await orders.registerShops();
  // A batch that claims nothing does not mean nothing is due: `next_attempt_at` is stored to the
  // millisecond, rounded, so an event stored a fraction of a millisecond before the claim can
  // still be a fraction of a millisecond in its future (and a retry is due a moment later).
  // Such events are waited for; re-fetch hints (claimed elsewhere) and later retries are not.
  const dueSoon = async () =>
    (
      await f.t.db.withSession((s) =>
        s.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM inbox_event WHERE status = 'pending' AND refetch_order_id IS NULL
             AND next_attempt_at <= now() + interval '20 milliseconds'`,
        ),
      )
    )[0]!.n;
  const drain = async () => {
    for (let i = 0; i < 200; i++) {
      const r = await orders.processBatch(100);
      if (r.claimed === 0) {
        if ((await dueSoon()) === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    throw new Error('inbox did not drain in 200 batches');
  };
  return {
    ...f,
    orders,
    drain,
    deliver: async (order, source = 'webhook', dedupeKey) => {
      await orders.receive({ shopId: order.shopId, source, dedupeKey, payload: { order } });
      await drain();
    },
    lineState: async (lineKey) => {
      const rows = await f.t.db.prisma.$queryRaw<{ status: string; q: number }[]>`
        SELECT status::text AS status, SUM(quantity)::int AS q FROM reservation WHERE line_key = ${lineKey} GROUP BY status`;
      const get = (s: string) => rows.find((r) => r.status === s)?.q ?? 0;
      return { active: get('active'), consumed: get('consumed'), released: get('released') };
    },
    openExceptions: async (kind) =>
      f.t.db.prisma.$queryRaw<{ kind: string; subject: string; quantity: number | null }[]>`
        SELECT kind::text AS kind, subject, quantity FROM order_exception
        WHERE status = 'open' AND (${kind ?? null}::text IS NULL OR kind::text = ${kind ?? null}) ORDER BY id`,
  };
}

let n = 0;
/** A paid Taobao-like order with one line of `sku` (by 商家编码), modified at `minute`. */
export function order(patch: Partial<CanonicalOrderInput> & { minute?: number } = {}): CanonicalOrderInput {
  const { minute = 0, ...rest } = patch;
  return {
    shopId: SHOP.id,
    platform: 'taobao',
    platformOrderId: `T${++n}`,
    platformModifiedAt: new Date(Date.UTC(2026, 10, 11, 0, minute)).toISOString(),
    status: 'paid',
    currency: 'CNY',
    lines: [{ lineId: 'L1', platformItemId: 'I1', outerSkuId: 'TEA', quantity: 2, unitListPrice: 5000 }],
    buyerPaidTotal: 10000,
    ...rest,
  };
}
