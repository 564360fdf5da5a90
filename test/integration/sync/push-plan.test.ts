/**
 * The push planner on a real database: channel rules (warehouses, share, safety stock, min/max),
 * per-listing exclusion, bundles and the bundles sharing a component, the adaptive buffer, the
 * suspended state, and the count of units a listing's own platform took (re-inflation guard).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PushRules, pushRulesSchema } from '../../../src/sync/channel-rules.js';
import { type PlanShop, planPushes } from '../../../src/sync/push-plan.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../../support/orders.js';

const rules = (r: Partial<PushRules> = {}) => pushRulesSchema.parse(r);
let f: OrdersFixture;
let shops: Map<string, PlanShop>;
const ids: Record<string, number> = {};
const wh: Record<string, number> = {};
/** A shop whose orders take their units when placed (拍下减库存), as its platform does. */
const CREATED = { ...SHOP, id: 'shopify-created', platform: 'shopify', reserveOn: 'created' as const };

async function plan(): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await planPushes(f.inv, shops)).skus === 0) return;
}

async function row(listingId: number) {
  const [r] = await f.t.db.withSession((s) =>
    s.query<{ desired: number; buffer: number; status: string; own_since_push: number }>(
      `SELECT desired, buffer, status::text AS status,
              own_since_push + COALESCE((SELECT SUM(n) FROM stock_push_sale WHERE listing_id = ${listingId}), 0)::int
                AS own_since_push
       FROM stock_push WHERE listing_id = ${listingId}`,
    ),
  );
  return r;
}

/** What the pusher records when a push of the quantity wanted lands (see recordSuccesses). */
async function pushLanded(listingId: number): Promise<void> {
  await f.t.db.withSession((s) =>
    s.query(`UPDATE stock_push SET pushed = desired, own_since_push = 0, status = 'synced', pending_since = NULL
             WHERE listing_id = ${listingId}`),
  );
}

async function listing(shopId: string, item: string, sku: string, extra: object = {}): Promise<number> {
  const { listingId } = await f.orders.putListing({
    shopId,
    platformItemId: item,
    sku,
    stockRef: { listingId: `ref-${shopId}-${item}` },
    ...extra,
  });
  return listingId;
}

beforeAll(async () => {
  const other = { ...SHOP, id: 'douyin-main', platform: 'douyin' };
  const third = { ...SHOP, id: 'jd-main', platform: 'jd' };
  f = await ordersFixture([SHOP, other, third, CREATED]);
  wh.SH = await f.warehouse('SH');
  wh.BJ = await f.warehouse('BJ');
  for (const code of ['TEA', 'CUP', 'POT']) ids[code] = await f.sku(code);
  await f.inv.catalog.putBundle({
    code: 'SET',
    name: 'tea set',
    components: [
      { code: 'CUP', quantity: 2 },
      { code: 'POT', quantity: 1 },
    ],
  });
  await f.receive(ids.TEA!, wh.SH!, 30);
  await f.receive(ids.TEA!, wh.BJ!, 10);
  await f.receive(ids.CUP!, wh.SH!, 9);
  await f.receive(ids.POT!, wh.SH!, 3);
  shops = new Map<string, PlanShop>([
    [SHOP.id, { id: SHOP.id, warehouses: ['SH', 'BJ'], reserveOn: 'paid', push: rules() }],
    [CREATED.id, { id: CREATED.id, warehouses: ['SH', 'BJ'], reserveOn: 'created', push: rules() }],
    [
      other.id,
      {
        id: other.id,
        warehouses: ['SH', 'BJ'],
        reserveOn: 'paid',
        push: rules({ warehouses: ['SH'], sharePercent: 50, safetyStock: 1 }),
      },
    ],
    [
      third.id,
      {
        id: third.id,
        warehouses: ['SH', 'BJ'],
        reserveOn: 'paid',
        push: rules({ maxQuantity: 12, minQuantity: 5 }),
      },
    ],
  ]);
});
afterAll(async () => f?.close());

describe('push planner', () => {
  it('applies each channel its own rules', async () => {
    const all = await listing(SHOP.id, 'I-TEA', 'TEA');
    const half = await listing('douyin-main', 'D-TEA', 'TEA');
    const capped = await listing('jd-main', 'J-TEA', 'TEA');
    const boxes = await listing(SHOP.id, 'I-TEA-6', 'TEA', { unitsPerItem: 6 });
    await plan();
    expect((await row(all))!.desired).toBe(40); // SH 30 + BJ 10
    expect((await row(half))!.desired).toBe(14); // SH only: floor(30 * 50%) - 1
    expect((await row(capped))!.desired).toBe(12); // max 12
    expect((await row(boxes))!.desired).toBe(6); // floor(40 / 6)
    // Stock falls: the minimum hides the listing on jd (below 5 it shows 0).
    await f.inv.ledger.adjust({
      key: 'tea-down',
      skuId: ids.TEA!,
      warehouseId: wh.SH!,
      delta: -26,
      reason: 'damage',
    });
    await f.inv.ledger.adjust({
      key: 'tea-down-bj',
      skuId: ids.TEA!,
      warehouseId: wh.BJ!,
      delta: -10,
      reason: 'damage',
    });
    await plan();
    expect((await row(all))!.desired).toBe(4);
    expect((await row(capped))!.desired).toBe(0);
    expect((await row(half))!.desired).toBe(1); // floor(4 / 2) - 1
  });

  it('excludes listings marked so, and plans again when the exclusion is lifted', async () => {
    const excluded = await listing(SHOP.id, 'I-CUP', 'CUP', { pushExcluded: true });
    await plan();
    expect(await row(excluded)).toBeUndefined();
    await f.receive(ids.CUP!, wh.SH!, 1);
    await plan();
    expect(await row(excluded)).toBeUndefined();
    await listing(SHOP.id, 'I-CUP', 'CUP', { pushExcluded: false });
    await plan();
    expect((await row(excluded))!.desired).toBe(10);
  });

  it('plans a bundle when one of its components changes, and the other bundles sharing it', async () => {
    const set = await listing(SHOP.id, 'I-SET', 'SET');
    const pot = await listing(SHOP.id, 'I-POT', 'POT');
    await plan();
    expect((await row(set))!.desired).toBe(3); // min(10 / 2, 3 / 1)
    await f.inv.catalog.putBundle({
      code: 'DUO',
      name: 'two cups',
      components: [{ code: 'CUP', quantity: 2 }],
    });
    const duo = await listing(SHOP.id, 'I-DUO', 'DUO');
    await plan();
    expect((await row(duo))!.desired).toBe(5);
    // A cup breaks: both bundles built from cups are planned again, the pot is not touched.
    await f.inv.ledger.adjust({
      key: 'cup-broke',
      skuId: ids.CUP!,
      warehouseId: wh.SH!,
      delta: -5,
      reason: 'broken',
    });
    const marks = await planPushes(f.inv, shops);
    expect(marks.skus).toBe(1);
    expect((await row(duo))!.desired).toBe(2);
    expect((await row(set))!.desired).toBe(2);
    expect((await row(pot))!.desired).toBe(3);
  });

  it('keeps a suspended listing suspended until its quantity changes', async () => {
    const pot = (
      await f.t.db.withSession((s) =>
        s.query<{ id: number }>(`SELECT id FROM listing WHERE platform_item_id = 'I-POT'`),
      )
    )[0]!.id;
    await f.t.db.withSession((s) =>
      s.query(`UPDATE stock_push SET status = 'failed', last_error = 'refused' WHERE listing_id = ${pot}`),
    );
    await f.t.db.withSession((s) =>
      s.query(`INSERT INTO stock_dirty (sku_id) VALUES (${ids.POT}) ON CONFLICT DO NOTHING`),
    );
    await plan();
    expect((await row(pot))!.status).toBe('failed');
    await f.receive(ids.POT!, wh.SH!, 1);
    await plan();
    expect(await row(pot)).toMatchObject({ desired: 4, status: 'pending' });
  });

  it('counts the units its own platform took: placed (paid or not) adds, a cancellation gives back', async () => {
    const tea = (
      await f.t.db.withSession((s) =>
        s.query<{ id: number }>(`SELECT id FROM listing WHERE platform_item_id = 'I-TEA'`),
      )
    )[0]!.id;
    const before = (await row(tea))!.own_since_push;
    const unpaid = order({
      status: 'pending_payment',
      lines: [{ lineId: 'L1', platformItemId: 'I-TEA', quantity: 3, unitListPrice: 100 }],
      buyerPaidTotal: 300,
    });
    await f.deliver(unpaid);
    expect((await row(tea))!.own_since_push).toBe(before + 3);
    await f.deliver({ ...unpaid, status: 'paid', platformModifiedAt: '2026-11-11T01:00:00.000Z' });
    expect((await row(tea))!.own_since_push).toBe(before + 3);
    await f.deliver({ ...unpaid, status: 'cancelled', platformModifiedAt: '2026-11-11T02:00:00.000Z' });
    expect((await row(tea))!.own_since_push).toBe(before);
    // Another shop's order of the same SKU is not this listing's platform.
    await f.deliver(
      order({
        shopId: 'douyin-main',
        platform: 'douyin',
        lines: [{ lineId: 'L1', platformItemId: 'D-TEA', quantity: 1, unitListPrice: 100 }],
        buyerPaidTotal: 100,
      }),
    );
    expect((await row(tea))!.own_since_push).toBe(before);
  });

  it('calls a listing synced when its platform should not show more than wanted, not whenever our last push equals it', async () => {
    const mug = await f.sku('MUG');
    await f.receive(mug, wh.SH!, 20);
    const here = await listing(SHOP.id, 'I-MUG', 'MUG');
    await listing('douyin-main', 'D-MUG', 'MUG');
    await plan();
    const landed = () => pushLanded(here);
    await landed();
    expect(await row(here)).toMatchObject({ desired: 20, status: 'synced', own_since_push: 0 });
    const line = (item: string) => [{ lineId: 'L1', platformItemId: item, quantity: 2, unitListPrice: 100 }];
    // A sale on the listing's own platform: 18 wanted, and pushed back there too.
    const own = order({ lines: line('I-MUG'), buyerPaidTotal: 200 });
    await f.deliver(own);
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'pending', own_since_push: 2 });
    await landed();
    // It is cancelled there (the platform shows 20 again) while another channel sells 2: the
    // quantity wanted stays 18, and the listing must be pushed.
    await f.deliver({ ...own, status: 'cancelled', platformModifiedAt: '2026-11-11T03:00:00.000Z' });
    await f.deliver(
      order({ shopId: 'douyin-main', platform: 'douyin', lines: line('D-MUG'), buyerPaidTotal: 200 }),
    );
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'pending', own_since_push: -2 });
    await landed();
    // An unpaid order there takes 2 on the platform, not in the ledger (reserveOn: paid): the
    // platform shows less than wanted, and those units are not given back.
    await f.deliver(order({ status: 'pending_payment', lines: line('I-MUG'), buyerPaidTotal: 200 }));
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'synced', own_since_push: 2 });
  });

  it('with reserveOn created, pushes a listing whose platform shows less than wanted (a sale there, a cancellation elsewhere)', async () => {
    const jar = await f.sku('JAR');
    await f.receive(jar, wh.SH!, 20);
    const here = await listing(CREATED.id, 'C-JAR', 'JAR');
    await listing('douyin-main', 'D-JAR', 'JAR');
    await plan();
    const landed = () => pushLanded(here);
    await landed();
    const line = (item: string) => [{ lineId: 'L1', platformItemId: item, quantity: 2, unitListPrice: 100 }];
    // Another channel sells 2 (pushed: 18) ...
    const elsewhere = order({
      shopId: 'douyin-main',
      platform: 'douyin',
      lines: line('D-JAR'),
      buyerPaidTotal: 200,
    });
    await f.deliver(elsewhere);
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'pending', own_since_push: 0 });
    await landed();
    // ... then this listing's platform sells 2 (it shows 16) while that order is cancelled: 18
    // wanted as before, and every one of its units held by the ledger, so the listing is short.
    await f.deliver(
      order({ shopId: CREATED.id, platform: 'shopify', lines: line('C-JAR'), buyerPaidTotal: 200 }),
    );
    await f.deliver({ ...elsewhere, status: 'cancelled', platformModifiedAt: '2026-11-11T03:00:00.000Z' });
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'pending', own_since_push: 2 });
    // Once it shows what is wanted (what the pusher records), the listing is synced again.
    await f.t.db.withSession((s) =>
      s.query(`UPDATE stock_push SET own_since_push = 0, status = 'pending' WHERE listing_id = ${here}`),
    );
    await f.deliver(
      order({
        shopId: 'douyin-main',
        platform: 'douyin',
        lines: [{ ...line('D-JAR')[0]!, quantity: 1 }],
        buyerPaidTotal: 100,
      }),
    );
    await f.receive(jar, wh.SH!, 1);
    await plan();
    expect(await row(here)).toMatchObject({ desired: 18, status: 'synced', own_since_push: 0 });
  });

  it('holds back velocity x latency with the adaptive buffer', async () => {
    const fast = await f.sku('FAST');
    await f.receive(fast, wh.SH!, 1000);
    shops.set(SHOP.id, {
      id: SHOP.id,
      warehouses: ['SH', 'BJ'],
      reserveOn: 'paid',
      push: rules({ buffer: { mode: 'adaptive', windowMinutes: 1, minLatencyMs: 30_000, maxUnits: 40 } }),
    });
    const l = await listing(SHOP.id, 'I-FAST', 'FAST');
    await plan();
    expect(await row(l)).toMatchObject({ desired: 1000, buffer: 0 });
    // 120 units sold in the last minute: 2 units/s x 30 s = 60, capped at 40.
    for (let i = 0; i < 12; i++)
      await f.inv.reservations.reserve({
        key: `fast-${i}`,
        lines: [{ lineKey: `x:fast:${i}`, skuId: fast, quantity: 10 }],
        warehouseIds: [wh.SH!],
      });
    await plan();
    expect(await row(l)).toMatchObject({ desired: 880 - 40, buffer: 40 });
    shops.set(SHOP.id, {
      id: SHOP.id,
      warehouses: ['SH', 'BJ'],
      reserveOn: 'paid',
      push: rules({ buffer: { mode: 'adaptive', windowMinutes: 1, minLatencyMs: 10_000, maxUnits: 40 } }),
    });
    await f.receive(fast, wh.SH!, 1);
    await plan();
    expect(await row(l)).toMatchObject({ desired: 881 - 20, buffer: 20 });
  });
});
