/**
 * The inbox applies the new orders and the common revisions of a claimed batch together, in one
 * transaction (src/orders/apply-batch.ts, src/orders/apply-revisions.ts), and every other event
 * one by one. These tests hold it to what applying each event on its own gives: on random
 * batches (revisions of orders of the same batch and of earlier ones, newer, replayed or older,
 * cancellations, shipped orders, bundles, unmapped lines, amounts that do not add up), the
 * ledger, the orders, their
 * lines, the exceptions and the push counters end up the same as on a second database that
 * applied the same deliveries one at a time. Stock is ample there (with scarce stock the units
 * go to whichever order takes them first, and one-by-one events run concurrently); scarce stock
 * gets its own test: first come, first served, never beyond what is on hand.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrderInput } from '../../../src/domain/order.js';
import { createLogger, type Logger } from '../../../src/log.js';
import { lineKeyOf } from '../../../src/orders/index.js';
import { type OrdersFixture, ordersFixture, SHOP } from '../../support/orders.js';

const ITEMS = {
  tea: { platformItemId: 'I-TEA', unitListPrice: 1000 },
  rare: { platformItemId: 'I-RARE', unitListPrice: 3000 },
  set: { platformItemId: 'I-SET', unitListPrice: 5000 },
  cup: { platformItemId: 'I-CUP', outerSkuId: 'CUP', unitListPrice: 500 },
  ghost: { platformItemId: 'I-GHOST', unitListPrice: 100 },
} as const;
type Item = keyof typeof ITEMS;
const STATUSES = ['pending_payment', 'paid', 'cancelled', 'shipped'] as const;

/** Same catalog, listings and push rows on each database, so ids match between them. */
async function setUp(f: OrdersFixture, stock: { tea: number; rare: number; cup: number }) {
  const sh = await f.warehouse('SH');
  const bj = await f.warehouse('BJ');
  const tea = await f.sku('TEA');
  const rare = await f.sku('RARE');
  const cup = await f.sku('CUP');
  await f.inv.catalog.putBundle({
    code: 'SET',
    name: 'tea set',
    components: [
      { code: 'TEA', quantity: 2 },
      { code: 'CUP', quantity: 1 },
    ],
  });
  await f.receive(tea, sh, stock.tea);
  await f.receive(tea, bj, stock.tea);
  await f.receive(rare, sh, stock.rare);
  await f.receive(cup, bj, stock.cup);
  for (const [item, sku] of [
    ['I-TEA', 'TEA'],
    ['I-RARE', 'RARE'],
    ['I-SET', 'SET'],
  ] as const) {
    await f.orders.putListing({ shopId: SHOP.id, platformItemId: item, sku, stockRef: { listingId: item } });
  }
  await f.t.db.prisma.$executeRaw`INSERT INTO stock_push (listing_id, desired) SELECT id, 0 FROM listing`;
}

/** A logger that keeps the messages of warnings and errors: a batch that fell back says so. */
function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = createLogger(
    { level: 'warn', pretty: false },
    { destination: { write: (line: string) => void warnings.push(JSON.parse(line).msg) } },
  );
  return { log, warnings };
}

interface Spec {
  lines: { item: Item; quantity: number }[];
  status: (typeof STATUSES)[number];
  mismatch: boolean;
  /** A later revision of an earlier order of the batch (by position), instead of a new order. */
  revises: number | null;
  /** Else a later revision of an order stored by an earlier batch (by position, modulo). */
  revisesStored: number | null;
  /** A revision's time against the one it revises: later, the same (a replay), or earlier. */
  age: 'newer' | 'same' | 'older';
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  lines: fc.array(
    fc.record({
      item: fc.constantFrom<Item>('tea', 'tea', 'rare', 'cup', 'set', 'ghost'),
      quantity: fc.integer({ min: 1, max: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  status: fc.constantFrom(...STATUSES),
  mismatch: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  revises: fc.option(fc.nat(30), { nil: null, freq: 4 }),
  revisesStored: fc.option(fc.nat(1000), { nil: null, freq: 3 }),
  age: fc.constantFrom<Spec['age']>('newer', 'newer', 'newer', 'same', 'older'),
});

function ordersOf(
  specs: readonly Spec[],
  run: string,
  /** Orders of earlier batches, which specs may revise. */
  stored: readonly CanonicalOrderInput[] = [],
): CanonicalOrderInput[] {
  const out: CanonicalOrderInput[] = [];
  for (const [i, s] of specs.entries()) {
    const earlier =
      s.revises !== null && s.revises < i
        ? out[s.revises]
        : s.revisesStored !== null && stored.length > 0
          ? stored[s.revisesStored % stored.length]
          : undefined;
    const lines =
      earlier?.lines ??
      s.lines.map((l, k) => ({ lineId: `L${k + 1}`, ...ITEMS[l.item], quantity: l.quantity }));
    const total = lines.reduce((n, l) => n + l.quantity * l.unitListPrice, 0);
    out.push({
      shopId: SHOP.id,
      platform: 'taobao',
      platformOrderId: earlier?.platformOrderId ?? `${run}-${i}`,
      platformModifiedAt:
        earlier && s.age !== 'newer'
          ? new Date(Date.parse(earlier.platformModifiedAt!) - (s.age === 'older' ? 1000 : 0)).toISOString()
          : new Date(Date.UTC(2026, 10, 11, 0, 0, stored.length + i)).toISOString(),
      status: s.status,
      currency: 'CNY',
      lines,
      buyerPaidTotal: s.mismatch ? total + 1 : total,
    });
  }
  return out;
}

/** Specs of one-line orders of `item`: each a status and the stored order it revises, or null. */
function oneLine(
  item: Item,
  quantity: number,
  rows: readonly (readonly [Spec['status'], number | null])[],
): Spec[] {
  return rows.map(([status, revisesStored]) => ({
    lines: [{ item, quantity }],
    status,
    mismatch: false,
    revises: null,
    revisesStored,
    age: 'newer',
  }));
}

/** The scarce-stock tests' first batch: six paid orders for 2 RARE each, S-0 to S-5. */
const sixPaid = () =>
  ordersOf(
    oneLine(
      'rare',
      2,
      Array.from({ length: 6 }, () => ['paid', null] as const),
    ),
    'S',
  );

/** Everything the intake writes, without generated ids, keys and times. */
async function snapshot(f: OrdersFixture) {
  const q = <T>(text: string) => f.t.db.withSession((s) => s.query<T>(text));
  return {
    levels: await q(`SELECT sku_id, warehouse_id, on_hand, reserved FROM stock_level ORDER BY 1, 2`),
    reservations: await q(`
      SELECT line_key, line_sku_id, sku_id, warehouse_id, status::text, SUM(quantity)::int AS q
      FROM reservation GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`),
    movements: await q(`
      SELECT kind::text, sku_id, warehouse_id, SUM(quantity)::int AS q FROM stock_movement GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
    operations: await q(
      `SELECT kind::text, COUNT(*)::int AS n FROM inventory_operation GROUP BY 1 ORDER BY 1`,
    ),
    // Settlements' keys are made from the line and its units; their stored results are what a
    // replay answers (a bundle line's components, in the order consume takes them).
    settlements: await q(
      `SELECT key, kind::text, result FROM inventory_operation WHERE kind IN ('consume', 'release') ORDER BY key`,
    ),
    orders: await q(`
      SELECT shop_id, platform_order_id, status::text, currency, buyer_paid_total::text, data,
             platform_modified_at, platform_version::text
      FROM sales_order ORDER BY 1, 2`),
    lines: await q(`
      SELECT o.platform_order_id, l.line_id, l.sku_id, l.units_per_item, l.quantity, l.gift, l.list_amount::text,
             l.seller_discount::text, l.platform_discount::text, l.buyer_paid::text, l.seller_revenue::text
      FROM sales_order_line l JOIN sales_order o ON o.id = l.order_id ORDER BY 1, 2`),
    exceptions: await q(`
      SELECT kind::text, subject, status::text, quantity, message FROM order_exception ORDER BY 1, 2`),
    push: await q(`
      SELECT p.listing_id, p.own_since_push, p.held_back, p.given_back,
             (SELECT COALESCE(SUM(n), 0)::int FROM stock_push_sale s WHERE s.listing_id = p.listing_id) AS unfolded
      FROM stock_push p ORDER BY 1`),
    dirty: await q(`SELECT DISTINCT sku_id FROM stock_dirty ORDER BY 1`),
    inbox: await q(`SELECT status::text, COUNT(*)::int AS n FROM inbox_event GROUP BY 1 ORDER BY 1`),
  };
}

interface FixturePair {
  /** Applies each claimed batch together (its warnings recorded: a fallback says so). */
  together: OrdersFixture;
  /** Applies one event per batch. */
  oneByOne: OrdersFixture;
  warnings: string[];
}

/** Two databases set up alike, for the calling describe (opened before its tests, closed after). */
function fixturePair(stock: Parameters<typeof setUp>[1]): FixturePair {
  const { log, warnings } = recordingLogger();
  const pair = { warnings } as FixturePair;
  beforeAll(async () => {
    pair.together = await ordersFixture(undefined, log);
    pair.oneByOne = await ordersFixture();
    for (const f of [pair.together, pair.oneByOne]) await setUp(f, stock);
  });
  afterAll(async () => {
    await pair.together?.close();
    await pair.oneByOne?.close();
  });
  return pair;
}

/**
 * Stores the orders as webhook deliveries on both databases, applies them in one batch on
 * `together` and one event per batch on `oneByOne`, and holds the two to the same results and
 * the same state. Returns the batch's report.
 */
async function applyBoth(
  { together, oneByOne }: FixturePair,
  orders: readonly CanonicalOrderInput[],
  dedupeKey?: (order: CanonicalOrderInput, i: number) => string,
) {
  const deliveries = orders.map((order, i) => ({
    shopId: SHOP.id,
    source: 'webhook' as const,
    ...(dedupeKey ? { dedupeKey: dedupeKey(order, i) } : {}),
    payload: { order },
  }));
  await together.orders.receiveAll(deliveries);
  await oneByOne.orders.receiveAll(deliveries);
  const a = await together.orders.processBatch(100);
  expect(a.claimed).toBe(orders.length);
  expect(a.applied).toBe(orders.length);
  const byOne = [];
  for (;;) {
    const r = await oneByOne.orders.processBatch(1);
    if (r.claimed === 0) break;
    byOne.push(...r.results);
  }
  expect(a.results).toEqual(byOne);
  expect(await snapshot(together)).toEqual(await snapshot(oneByOne));
  return a;
}

describe('applying a batch together', () => {
  const pair = fixturePair({ tea: 100_000, rare: 100_000, cup: 100_000 });

  it('ends where applying each delivery on its own ends', async () => {
    const { together, warnings } = pair;
    let run = 0;
    // Orders both databases hold, for later batches to revise; and what went together.
    const stored: CanonicalOrderInput[] = [];
    const together_ = { created: 0, revised: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(specArb, { minLength: 2, maxLength: 30 }), async (specs) => {
        const orders = ordersOf(specs, `B${++run}`, stored);
        const a = await applyBoth(pair, orders, (o, i) => `${run}:${o.platformOrderId}@${i}`);
        stored.push(...orders);
        together_.created += a.together.created;
        together_.revised += a.together.revised;
      }),
      { numRuns: 25, endOnFailure: true },
    );
    // The fast path took part: most of those orders were new, mapped and simple.
    const [taken] = await together.t.db.withSession((s) =>
      s.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM sales_order`),
    );
    expect(taken!.n).toBeGreaterThan(15);
    expect(together_.created).toBeGreaterThan(8);
    // And so did the revisions path: payments, shipments, cancellations and replays. (How many
    // depends on the random batches: 6 in one CI run, so the bound is low; 0 means it broke.)
    expect(together_.revised).toBeGreaterThan(2);
    // No batch fell back to one by one (which would end in the same place and hide a fault).
    expect(warnings).toEqual([]);
    expect(await together.inv.verify()).toMatchObject({ ok: true });
  });
});

describe('a batch of new orders on scarce stock', () => {
  let f: OrdersFixture;
  beforeAll(async () => {
    f = await ordersFixture();
    await setUp(f, { tea: 1, rare: 7, cup: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('gives the units to the orders in the order they arrived, never more than on hand, and flags the rest exactly', async () => {
    const orders = sixPaid();
    // Arrival order differs from the order ids' order.
    const arrival = [3, 0, 5, 1, 4, 2].map((i) => orders[i]!);
    await f.orders.receiveAll(
      arrival.map((order) => ({ shopId: SHOP.id, source: 'webhook' as const, payload: { order } })),
    );
    const r = await f.orders.processBatch(100);
    expect(r.applied).toBe(6);
    const held = await Promise.all(
      arrival.map(async (o) => (await f.lineState(lineKeyOf(SHOP.id, o.platformOrderId, 'L1'))).active),
    );
    expect(held).toEqual([2, 2, 2, 1, 0, 0]);
    expect(await f.openExceptions('oversell')).toEqual(
      arrival.slice(3).map((o, k) => ({
        kind: 'oversell',
        subject: lineKeyOf(SHOP.id, o.platformOrderId, 'L1'),
        quantity: [1, 2, 2][k],
      })),
    );
    const [level] = await f.inv.availability.ats({ skuIds: [2] });
    expect(level).toMatchObject({ onHand: 7, reserved: 7 });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('applies revisions of stored orders first, so a cancellation frees its units for the new orders that came with it', async () => {
    // RARE: 7 on hand, all held by S-3, S-0, S-5 (2 each) and S-1 (1 of 2).
    const [placed, ...stored] = ordersOf(
      oneLine('rare', 2, [
        ['paid', null],
        ['cancelled', 3],
        ['shipped', 0],
      ]),
      'C',
      sixPaid(),
    );
    expect(stored.map((o) => [o.platformOrderId, o.status])).toEqual([
      ['S-3', 'cancelled'],
      ['S-0', 'shipped'],
    ]);
    // The new order arrives before the cancellation.
    await f.orders.receiveAll(
      [placed!, ...stored].map((order) => ({
        shopId: SHOP.id,
        source: 'webhook' as const,
        payload: { order },
      })),
    );
    const r = await f.orders.processBatch(100);
    expect(r.together).toEqual({ created: 1, revised: 2 });
    expect(r.results.map((x) => ('outcome' in x ? [x.outcome, x.effects] : x))).toEqual([
      ['created', [{ lineId: 'L1', action: 'reserve', quantity: 2 }]],
      ['updated', [{ lineId: 'L1', action: 'release', quantity: 2 }]],
      ['updated', [{ lineId: 'L1', action: 'consume', quantity: 2 }]],
    ]);
    const line = (id: string) => f.lineState(lineKeyOf(SHOP.id, id, 'L1'));
    expect(await line(placed!.platformOrderId)).toMatchObject({ active: 2 });
    expect(await line('S-3')).toMatchObject({ active: 0, released: 2 });
    expect(await line('S-0')).toMatchObject({ active: 0, consumed: 2 });
    const [level] = await f.inv.availability.ats({ skuIds: [2] });
    expect(level).toMatchObject({ onHand: 5, reserved: 5 });
    expect(await f.openExceptions('oversell')).not.toContainEqual(
      expect.objectContaining({ subject: lineKeyOf(SHOP.id, placed!.platformOrderId, 'L1') }),
    );
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('leaves a stored order that no longer reads to the one-by-one path, and applies the rest together', async () => {
    const earlier = sixPaid();
    await f.t.db.prisma
      .$executeRaw`UPDATE sales_order SET data = '{"broken": true}' WHERE platform_order_id = 'S-5'`;
    const orders = ordersOf(
      oneLine('tea', 1, [
        ['cancelled', 5],
        ['paid', null],
        ['cancelled', 1],
      ]),
      'X',
      [...earlier, ...earlier, ...earlier],
    );
    await f.orders.receiveAll(
      orders.map((order) => ({ shopId: SHOP.id, source: 'webhook' as const, payload: { order } })),
    );
    const r = await f.orders.processBatch(100);
    expect(r).toMatchObject({ claimed: 3, applied: 2, retried: 1, together: { created: 1, revised: 1 } });
    expect(r.results[0]).toMatchObject({
      error: expect.stringContaining('stored order no longer validates'),
    });
    expect(await f.lineState(lineKeyOf(SHOP.id, 'S-1', 'L1'))).toMatchObject({ active: 0, released: 1 });
    expect(await f.lineState(lineKeyOf(SHOP.id, 'S-5', 'L1'))).toMatchObject({ active: 2, released: 0 });
  });
});

describe('a batch with a bundle line on scarce stock', () => {
  let f: OrdersFixture;
  beforeAll(async () => {
    f = await ordersFixture();
    await setUp(f, { tea: 1, rare: 7, cup: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('gives a bundle line and a simple line sharing a component their units in arrival order, in the batch', async () => {
    // TEA: 1 in SH and 1 in BJ, CUP: 1; a SET is 2 TEA and 1 CUP. The SET order came first.
    const paid = (item: Item): Spec => ({
      lines: [{ item, quantity: 1 }],
      status: 'paid',
      mismatch: false,
      revises: null,
      revisesStored: null,
      age: 'newer',
    });
    const [set, tea] = ordersOf([paid('set'), paid('tea')], 'T');
    await f.orders.receiveAll(
      [set!, tea!].map((order) => ({ shopId: SHOP.id, source: 'webhook' as const, payload: { order } })),
    );
    const r = await f.orders.processBatch(100);
    expect(r.together).toEqual({ created: 2, revised: 0 });
    expect(await f.lineState(lineKeyOf(SHOP.id, set!.platformOrderId, 'L1'))).toEqual({
      active: 3,
      consumed: 0,
      released: 0,
    });
    expect((await f.lineState(lineKeyOf(SHOP.id, tea!.platformOrderId, 'L1'))).active).toBe(0);
    expect(await f.openExceptions('oversell')).toContainEqual({
      kind: 'oversell',
      subject: lineKeyOf(SHOP.id, tea!.platformOrderId, 'L1'),
      quantity: 1,
    });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });
});

describe('orders first seen shipped, in a batch', () => {
  let f: OrdersFixture;
  const { log, warnings } = recordingLogger();
  beforeAll(async () => {
    f = await ordersFixture(undefined, log);
    await setUp(f, { tea: 100, rare: 3, cup: 100 });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('takes their shipped units before any held ones, consumes them, and flags what shipped without stock', async () => {
    const spec = (status: Spec['status'], quantity: number): Spec => ({
      lines: [
        { item: 'rare', quantity },
        { item: 'tea', quantity: 1 },
      ],
      status,
      mismatch: false,
      revises: null,
      revisesStored: null,
      age: 'newer',
    });
    // A paid order first, then two shipped ones: the shipped units have left the warehouse
    // already, so they take RARE's 3 units before the paid order's hold.
    const orders = ordersOf([spec('paid', 1), spec('shipped', 2), spec('shipped', 2)], 'SH');
    await f.orders.receiveAll(
      orders.map((order) => ({ shopId: SHOP.id, source: 'webhook' as const, payload: { order } })),
    );
    const r = await f.orders.processBatch(100);
    expect(warnings).toEqual([]);
    expect(r.applied).toBe(3);
    const rare = (o: number) => lineKeyOf(SHOP.id, orders[o]!.platformOrderId, 'L1');
    expect(r.results.map((x) => ('effects' in x ? x.effects : x))).toEqual([
      [{ lineId: 'L2', action: 'reserve', quantity: 1 }],
      // Lines in SKU order (TEA before RARE), as one by one.
      [
        { lineId: 'L2', action: 'reserve', quantity: 1 },
        { lineId: 'L2', action: 'consume', quantity: 1 },
        { lineId: 'L1', action: 'reserve', quantity: 2 },
        { lineId: 'L1', action: 'consume', quantity: 2 },
      ],
      [
        { lineId: 'L2', action: 'reserve', quantity: 1 },
        { lineId: 'L2', action: 'consume', quantity: 1 },
        { lineId: 'L1', action: 'reserve', quantity: 1 },
        { lineId: 'L1', action: 'consume', quantity: 1 },
      ],
    ]);
    expect(await f.lineState(rare(0))).toEqual({ active: 0, consumed: 0, released: 0 });
    expect(await f.lineState(rare(1))).toEqual({ active: 0, consumed: 2, released: 0 });
    expect(await f.lineState(rare(2))).toEqual({ active: 0, consumed: 1, released: 0 });
    expect(await f.openExceptions('oversell')).toEqual([
      { kind: 'oversell', subject: rare(0), quantity: 1 },
      { kind: 'oversell', subject: rare(2), quantity: 1 },
    ]);
    const [level] = await f.inv.availability.ats({ skuIds: [2] });
    expect(level).toMatchObject({ onHand: 0, reserved: 0 });
    // The consumption is the one the one-by-one path records: replaying its key changes nothing.
    const replay = await f.inv.reservations.consume({
      key: `${rare(1)}:ship:2`,
      lineKey: rare(1),
      quantity: 2,
      reference: rare(1),
    });
    expect(replay).toMatchObject({ action: 'consume', quantity: 2, settled: [{ skuId: 2, quantity: 2 }] });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });
});

describe('revisions of bundle orders, in a batch', () => {
  // A SET is 2 TEA and 1 CUP; TEA 2 in SH and 2 in BJ, CUP 1 (BJ): one SET to begin with.
  const pair = fixturePair({ tea: 2, rare: 100, cup: 1 });

  const spec = (item: Item, quantity: number, status: Spec['status'], revises: number | null): Spec => ({
    lines: [{ item, quantity }],
    status,
    mismatch: false,
    revises: null,
    revisesStored: revises,
    age: 'newer',
  });
  const stored: CanonicalOrderInput[] = [];
  /** Applies the orders together on one database and one by one on the other; both must agree. */
  const batch = async (run: string, ...specs: Spec[]) => {
    const orders = ordersOf(specs, run, stored);
    stored.push(...orders);
    return { report: await applyBoth(pair, orders), set: orders[0]! };
  };

  // With each SET order, a RARE one: one order alone is applied one by one either way.
  const rare = spec('rare', 1, 'paid', null);

  it('tops a short bundle line up and cancels it together, as one by one would', async () => {
    const { together, oneByOne, warnings } = pair;
    const setKey = (o: CanonicalOrderInput) => lineKeyOf(SHOP.id, o.platformOrderId, 'L1');

    // Two SETs paid: one held (TEA from SH), one short.
    const first = await batch('R1', spec('set', 2, 'paid', null), rare);
    expect(first.report.together).toEqual({ created: 2, revised: 0 });
    // (lineState counts component units: a SET holds 3.)
    expect(await together.lineState(setKey(first.set))).toMatchObject({ active: 3 });

    // A CUP arrives in BJ; the order's next revision takes the second SET (TEA from BJ now), so
    // the line's rows are TEA@SH, CUP@BJ, TEA@BJ, CUP@BJ by id.
    const [cup] = await together.t.db.withSession((s) =>
      s.query<{ id: number }>(`SELECT id FROM sku WHERE code = 'CUP'`),
    );
    const [bj] = await together.t.db.withSession((s) =>
      s.query<{ id: number }>(`SELECT id FROM warehouse WHERE code = 'BJ'`),
    );
    for (const f of [together, oneByOne]) await f.receive(cup!.id, bj!.id, 1);
    const second = await batch('R2', spec('set', 2, 'paid', 0), rare);
    expect(second.report.together).toEqual({ created: 1, revised: 1 });
    expect(await together.lineState(setKey(first.set))).toMatchObject({ active: 6 });

    // Cancelled: every component released together, TEA's warehouses before CUP (as consume
    // and release take them: SKU by SKU), not in row order.
    const third = await batch('R3', spec('set', 2, 'cancelled', 0), rare);
    expect(third.report.together).toEqual({ created: 1, revised: 1 });
    expect(await together.lineState(setKey(first.set))).toMatchObject({ active: 0, released: 6 });
    const [op] = await together.t.db.withSession((s) =>
      s.query<{ result: { settled: { skuId: number; warehouseId: number; quantity: number }[] } }>(
        `SELECT result FROM inventory_operation WHERE kind = 'release' AND key LIKE $1`,
        [`${setKey(first.set)}:%`],
      ),
    );
    expect(
      op!.result.settled.map((x) => [
        x.skuId === cup!.id ? 'CUP' : 'TEA',
        x.warehouseId === bj!.id ? 'BJ' : 'SH',
        x.quantity,
      ]),
    ).toEqual([
      ['TEA', 'SH', 2],
      ['TEA', 'BJ', 2],
      ['CUP', 'BJ', 2],
    ]);
    expect(warnings).toEqual([]);
    expect(await together.inv.verify()).toMatchObject({ ok: true });
  });

  it('takes orders first seen shipped with a bundle line together: consumes what there is, flags the rest', async () => {
    const { together, warnings } = pair;
    // Stock now: 2 SETs (the cancelled order gave its units back). 3 shipped, then 1 more.
    const r = await batch('R4', spec('set', 3, 'shipped', null), spec('set', 1, 'shipped', null), rare);
    expect(r.report.together).toEqual({ created: 3, revised: 0 });
    expect(r.report.results.map((x) => ('effects' in x ? x.effects : x)).slice(0, 2)).toEqual([
      [
        { lineId: 'L1', action: 'reserve', quantity: 2 },
        { lineId: 'L1', action: 'consume', quantity: 2 },
      ],
      [],
    ]);
    expect(await together.openExceptions('oversell')).toEqual(
      expect.arrayContaining([
        { kind: 'oversell', subject: lineKeyOf(SHOP.id, 'R4-0', 'L1'), quantity: 1 },
        { kind: 'oversell', subject: lineKeyOf(SHOP.id, 'R4-1', 'L1'), quantity: 1 },
      ]),
    );
    expect(warnings).toEqual([]);
    expect(await together.inv.verify()).toMatchObject({ ok: true });
  });
});
