/**
 * The peak benchmark's catalog and workload mix: which SKUs exist, how they are listed on every
 * shop, how orders choose them, and how much opening stock each gets.
 *
 * Listing i of every shop maps to the same SKU (as the demo and the sync rig do), so an order on
 * one platform changes what the two others must show:
 *   - 0..189   simple SKUs `S-001`...`S-190`, chosen by the driver's orders Zipf-like (rank = index);
 *   - 190..197 bundles `B-1`...`B-8` (2-3 units of two cold simple SKUs);
 *   - 198..200 tracer SKUs `T-1`...`T-3`, touched only by the propagation tracer's orders;
 *   - any further listing of a shop (Taobao's single-spec bag) and the gift listings get SKUs of
 *     their own (`X-...`, `G-...`), sold only by the sandboxes' generators.
 * Opening stock covers 1.5x the expected demand of the whole run, except for the scarce hot SKUs
 * (`S-002`, `S-005`), whose stock is planned to run out a few seconds into the sustained window:
 * that is where oversell exposure shows.
 */
import type { Db } from '../../../src/db/client.js';
import { migrate } from '../../../src/db/migrate.js';
import { createInventory } from '../../../src/inventory/index.js';
import { createLogger } from '../../../src/log.js';
import { Orders, type ShopSettings } from '../../../src/orders/index.js';
import { offeredBy, type Profile, sustainedStart } from './profile.js';
import type { BenchShop } from './shops.js';

export const SIMPLE_SKUS = 190;
export const BUNDLES = 8;
export const TRACERS = 3;
/** Listings per shop that map to the shared SKUs. */
export const SHARED_LISTINGS = SIMPLE_SKUS + BUNDLES + TRACERS;
/** Zipf ranks (0-based) of the scarce SKUs. */
export const SCARCE_RANKS = [1, 4] as const;
/** Seconds into the sustained window at which the scarce SKUs are planned to sell out. */
export const SCARCE_SELLOUT_S = 5;
export const TRACER_STOCK = 1_000_000;
export const WAREHOUSE = 'MAIN';

/** How the driver's orders are made (fractions of all orders unless said otherwise). */
export const MIX = {
  /** Orders placed by the sandboxes' own generators: promotions, gifts, 1-3 lines, lifecycle states. */
  generated: 0.3,
  /** Of the buyer orders (sell): orders of a bundle listing. */
  bundle: 0.05,
  /** Of the buyer orders: never announced, found only by the scheduled pull. */
  pullOnly: 0.1,
  /** Of the buyer orders: cancelled 2-10 s after they were placed (announced like the order). */
  cancelled: 0.05,
  /** Zipf exponent of the SKU choice of buyer orders (rank r chosen with weight 1/r^s). */
  zipf: 1.0,
  /**
   * Lines per buyer order (distinct listings) and their probabilities: 2.8 on average, with the
   * generated orders' 1-3 about 2.6 in all, near issue 6's "1,000 orders/s (about 3,000 lines/s)".
   */
  lines: [
    [1, 0.25],
    [2, 0.2],
    [3, 0.2],
    [4, 0.2],
    [5, 0.15],
  ] as const,
  /** Units per buyer order line and their probabilities. */
  quantities: [
    [1, 0.8],
    [2, 0.15],
    [3, 0.05],
  ] as const,
  /** Stock units a generated order takes on average (1-3 lines of 1-3 units), for the stock plan. */
  generatedUnits: 4,
} as const;

export interface SkuPlan {
  code: string;
  kind: 'simple' | 'bundle' | 'tracer' | 'own';
  opening: number;
  components?: { code: string; quantity: number }[];
  scarce: boolean;
}

export interface CatalogPlan {
  skus: SkuPlan[];
  byCode: Map<string, SkuPlan>;
  /** SKU code of listing i of a shop. */
  skuOf(shop: BenchShop, index: number): string;
  scarce: string[];
  tracers: string[];
  /** The quantity a listing should show once the opening stock is pushed. */
  openingListed(code: string): number;
}

const sku = (i: number) => `S-${String(i + 1).padStart(3, '0')}`;

/** A Zipf sampler over `n` ranks: returns a 0-based rank. */
export function zipfSampler(n: number, s: number): (u: number) => number {
  const cdf: number[] = [];
  let total = 0;
  for (let r = 1; r <= n; r++) {
    total += 1 / r ** s;
    cdf.push(total);
  }
  return (u) => {
    const x = u * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function zipfWeight(rank: number, n: number, s: number): number {
  let total = 0;
  for (let r = 1; r <= n; r++) total += 1 / r ** s;
  return 1 / (rank + 1) ** s / total;
}

/** A distribution of whole numbers: each value with its probability (they add up to 1). */
type Distribution = readonly (readonly [value: number, probability: number])[];

const mean = (d: Distribution) => d.reduce((s, [v, p]) => s + v * p, 0);

/** A value of `d` drawn with `u` uniform in [0, 1); the first value when rounding leaves `u` past the last. */
export function drawFrom(d: Distribution, u: number): number {
  let x = u;
  for (const [v, p] of d) {
    if (x < p) return v;
    x -= p;
  }
  return d[0]![0];
}

const meanQuantity = mean(MIX.quantities);
/** Lines of a buyer order on average, with `singleLine` or {@link MIX}'s `lines`. */
const meanBuyerLines = (singleLine: boolean) => (singleLine ? 1 : mean(MIX.lines));

/**
 * The catalog for a run of `profile` on `shops`. A buyer order's lines are distinct listings, so
 * a hot SKU is in fewer of them than its Zipf weight times the lines; the plan counts it at full
 * weight (more opening stock than sold, except where it is meant to run out, below).
 */
export function planCatalog(profile: Profile, shops: readonly BenchShop[], singleLine = false): CatalogPlan {
  const buyerLines = meanBuyerLines(singleLine);
  for (const shop of shops) {
    const regular = shop.listings.filter((l) => !l.gift).length;
    if (regular < SHARED_LISTINGS || shop.listings.slice(0, regular).some((l) => l.gift))
      throw new Error(
        `${shop.id} lists ${regular} regular variants (first); the catalog needs ${SHARED_LISTINGS}`,
      );
  }
  const total = offeredBy(profile, Number.POSITIVE_INFINITY);
  const untilSellout = offeredBy(profile, sustainedStart(profile) + SCARCE_SELLOUT_S);
  // Expected stock units demanded per SKU, for a given number of offered orders.
  const demand = (orders: number, rank: number) => {
    const buyer = orders * (1 - MIX.generated);
    const sold =
      buyer * buyerLines * (1 - MIX.bundle) * zipfWeight(rank, SIMPLE_SKUS, MIX.zipf) * meanQuantity;
    const generated = (orders * MIX.generated * MIX.generatedUnits) / SHARED_LISTINGS;
    return sold + generated;
  };
  const bundleDemand = (orders: number) =>
    (orders * (1 - MIX.generated) * buyerLines * MIX.bundle * meanQuantity) / BUNDLES +
    (orders * MIX.generated * MIX.generatedUnits) / SHARED_LISTINGS;
  const skus: SkuPlan[] = [];
  const components: { code: string; quantity: number }[][] = [];
  for (let b = 0; b < BUNDLES; b++)
    components.push([
      { code: sku(SIMPLE_SKUS - 1 - 2 * b), quantity: 2 },
      { code: sku(SIMPLE_SKUS - 2 - 2 * b), quantity: 1 + (b % 2) },
    ]);
  const extra = new Map<string, number>();
  for (const c of components.flat())
    extra.set(c.code, (extra.get(c.code) ?? 0) + c.quantity * bundleDemand(total));
  for (let i = 0; i < SIMPLE_SKUS; i++) {
    const code = sku(i);
    const scarce = (SCARCE_RANKS as readonly number[]).includes(i);
    const opening = scarce
      ? Math.max(20, Math.round(demand(untilSellout, i)))
      : Math.ceil(1.5 * (demand(total, i) + (extra.get(code) ?? 0))) + 100;
    skus.push({ code, kind: 'simple', opening, scarce });
  }
  for (let b = 0; b < BUNDLES; b++)
    skus.push({ code: `B-${b + 1}`, kind: 'bundle', opening: 0, components: components[b]!, scarce: false });
  for (let t = 0; t < TRACERS; t++)
    skus.push({ code: `T-${t + 1}`, kind: 'tracer', opening: TRACER_STOCK, scarce: false });
  const ownOpening = Math.ceil((1.5 * total * MIX.generated * MIX.generatedUnits) / SHARED_LISTINGS) + 100;
  for (const shop of shops) {
    for (let i = SHARED_LISTINGS; i < shop.listings.length; i++)
      skus.push({ code: `X-${shop.id}-${i}`, kind: 'own', opening: ownOpening, scarce: false });
  }
  const byCode = new Map(skus.map((s) => [s.code, s]));
  const skuOf = (shop: BenchShop, i: number) => {
    if (i < SIMPLE_SKUS) return sku(i);
    if (i < SIMPLE_SKUS + BUNDLES) return `B-${i - SIMPLE_SKUS + 1}`;
    if (i < SHARED_LISTINGS) return `T-${i - SIMPLE_SKUS - BUNDLES + 1}`;
    return `X-${shop.id}-${i}`;
  };
  return {
    skus,
    byCode,
    skuOf,
    scarce: skus.filter((s) => s.scarce).map((s) => s.code),
    tracers: skus.filter((s) => s.kind === 'tracer').map((s) => s.code),
    openingListed(code) {
      const s = byCode.get(code)!;
      if (!s.components) return s.opening;
      return Math.min(...s.components.map((c) => Math.floor(byCode.get(c.code)!.opening / c.quantity)));
    },
  };
}

/** The shops as the daemon's config describes them (the intake's view). */
export function shopSettings(shops: readonly BenchShop[]): ShopSettings[] {
  return shops.map((s) => ({
    id: s.id,
    platform: s.platform,
    warehouses: [WAREHOUSE],
    matchOuterId: false,
    reserveOn: 'paid',
    restockOn: 'receipt',
  }));
}

/**
 * Migrates a fresh database and writes the catalog: the warehouse, every SKU and bundle, the
 * opening stock (one receipt each) and every shop's listings with their stock refs. Done before
 * the daemon starts (PGlite is one process), through the same inventory and intake code.
 */
export async function seedCatalog(db: Db, plan: CatalogPlan, shops: readonly BenchShop[]): Promise<void> {
  await migrate(db);
  const inv = createInventory(db);
  const orders = new Orders(inv, shopSettings(shops), createLogger({ level: 'warn', pretty: false }));
  await orders.registerShops();
  const wh = await inv.catalog.putWarehouse({ code: WAREHOUSE, name: 'main warehouse' });
  for (const s of plan.skus) {
    if (s.kind === 'bundle') continue;
    const view = await inv.catalog.putSku({ code: s.code, name: s.code });
    await inv.ledger.receive({
      key: `opening:${s.code}`,
      skuId: view.id,
      warehouseId: wh.id,
      quantity: s.opening,
    });
  }
  for (const s of plan.skus) {
    if (s.kind === 'bundle')
      await inv.catalog.putBundle({ code: s.code, name: s.code, components: s.components! });
  }
  for (const shop of shops) {
    for (const [i, l] of shop.listings.entries()) {
      await orders.putListing({
        shopId: shop.id,
        platformItemId: l.platformItemId,
        ...(l.platformSkuId ? { platformSkuId: l.platformSkuId } : {}),
        sku: plan.skuOf(shop, i),
        stockRef: {
          listingId: l.stockRef.listingId,
          ...(l.stockRef.locationId ? { locationId: l.stockRef.locationId } : {}),
        },
      });
    }
  }
  await inv.idle();
}
