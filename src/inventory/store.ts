// SQL building blocks shared by the inventory services. Every function runs inside the
// caller's transaction; stock_level rows are always locked in (sku_id, warehouse_id) order so
// that concurrent transactions cannot deadlock on each other.

import { sql } from '../db/sql.js';
import type { BundleGraph } from '../domain/bundles.js';
import { NotFoundError, StockConflictError, ValidationError } from '../domain/errors.js';
import type { Tx } from './tx.js';

export interface SkuRow {
  id: number;
  code: string;
  kind: 'simple' | 'bundle';
  safety_stock: number;
}

export interface LevelRow {
  sku_id: number;
  warehouse_id: number;
  on_hand: number;
  reserved: number;
}

export type MovementKind = 'receipt' | 'shipment' | 'adjustment' | 'return' | 'transfer' | 'stocktake';

/** Loads SKUs by id; throws NotFoundError naming every unknown id. */
export async function loadSkus(tx: Tx, ids: Iterable<number>): Promise<Map<number, SkuRow>> {
  const wanted = [...new Set(ids)];
  const rows = await tx.query<SkuRow>(sql`
    SELECT id, code, kind::text AS kind, safety_stock FROM sku WHERE id = ANY(${wanted}::int[])`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = wanted.filter((id) => !byId.has(id));
  if (missing.length > 0) throw new NotFoundError('sku', missing);
  return byId;
}

/** The bundle definitions reachable from `skuIds` (nested bundles included). */
export async function loadBundleGraph(tx: Tx, skuIds: Iterable<number>): Promise<BundleGraph> {
  const roots = [...new Set(skuIds)];
  const rows = await tx.query<{ bundle_id: number; component_id: number; quantity: number }>(sql`
    WITH RECURSIVE reach(id, depth) AS (
      SELECT unnest(${roots}::int[]), 0
      UNION
      SELECT bc.component_id, r.depth + 1 FROM bundle_component bc JOIN reach r ON bc.bundle_id = r.id
      WHERE r.depth < 16
    )
    SELECT DISTINCT bc.bundle_id, bc.component_id, bc.quantity
    FROM bundle_component bc JOIN reach r ON bc.bundle_id = r.id`);
  const graph = new Map<number, Map<number, number>>();
  for (const r of rows) {
    const components = graph.get(r.bundle_id) ?? new Map<number, number>();
    components.set(r.component_id, r.quantity);
    graph.set(r.bundle_id, components);
  }
  return graph;
}

export interface StockContext {
  /** Every SKU asked for and every component reachable from them. */
  skus: Map<number, SkuRow>;
  graph: BundleGraph;
}

/**
 * One round trip for what a stock write needs to know: the SKUs (unknown ones named in a
 * NotFoundError), the bundle recipes reachable from them, and the warehouses (unknown or
 * inactive ones refused).
 */
export async function loadContext(
  tx: Tx,
  skuIds: Iterable<number>,
  warehouseIds: Iterable<number>,
): Promise<StockContext> {
  const roots = [...new Set(skuIds)];
  const whs = [...new Set(warehouseIds)];
  const [row] = await tx.query<{
    skus: SkuRow[];
    edges: [number, number, number][];
    warehouses: [number, boolean][];
  }>(sql`
    WITH RECURSIVE reach(id, depth) AS (
      SELECT unnest(${roots}::int[]), 0
      UNION
      SELECT bc.component_id, r.depth + 1 FROM bundle_component bc JOIN reach r ON bc.bundle_id = r.id
      WHERE r.depth < 16
    )
    SELECT
      (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'code', s.code, 'kind', s.kind, 'safety_stock', s.safety_stock)), '[]')
         FROM sku s WHERE s.id IN (SELECT id FROM reach)) AS skus,
      -- Edges by bundle and component id: a recipe lists its SKUs in that (depth-first) order,
      -- as stock_reserve_bundle_line does.
      (SELECT COALESCE(json_agg(json_build_array(bc.bundle_id, bc.component_id, bc.quantity)
                                ORDER BY bc.bundle_id, bc.component_id), '[]')
         FROM bundle_component bc WHERE bc.bundle_id IN (SELECT id FROM reach)) AS edges,
      (SELECT COALESCE(json_agg(json_build_array(w.id, w.active)), '[]')
         FROM warehouse w WHERE w.id = ANY(${whs}::int[])) AS warehouses`);
  const skus = new Map(row!.skus.map((r) => [r.id, r]));
  const missing = roots.filter((id) => !skus.has(id));
  if (missing.length > 0) throw new NotFoundError('sku', missing);
  const found = new Map(row!.warehouses);
  const unknown = whs.filter((id) => !found.has(id));
  if (unknown.length > 0) throw new NotFoundError('warehouse', unknown);
  const inactive = whs.filter((id) => found.get(id) === false);
  if (inactive.length > 0) throw new ValidationError(`warehouse ${inactive.join(', ')} is inactive`);
  const graph = new Map<number, Map<number, number>>();
  for (const [bundle, component, quantity] of row!.edges) {
    const components = graph.get(bundle) ?? new Map<number, number>();
    components.set(component, quantity);
    graph.set(bundle, components);
  }
  return { skus, graph };
}

/**
 * Locks the stock_level rows of every (sku, warehouse) pair that exists, in key order.
 * Pairs without a row have no stock and are absent from the result.
 */
export async function lockLevels(tx: Tx, skuIds: number[], warehouseIds: number[]): Promise<LevelRow[]> {
  return tx.query<LevelRow>(sql`
    SELECT sku_id, warehouse_id, on_hand, reserved FROM stock_level
    WHERE sku_id = ANY(${skuIds}::int[]) AND warehouse_id = ANY(${warehouseIds}::int[])
    ORDER BY sku_id, warehouse_id
    FOR UPDATE`);
}

/** Adds `delta` to `reserved` of each (sku, warehouse); the rows must be locked already. */
export async function addReserved(tx: Tx, deltas: Map<string, number>): Promise<void> {
  const { skus, whs, qty } = unzipDeltas(deltas);
  if (skus.length === 0) return;
  await tx.execute(sql`
    UPDATE stock_level l SET reserved = l.reserved + d.qty, updated_at = now()
    FROM unnest(${skus}::int[], ${whs}::int[], ${qty}::int[]) AS d(sku_id, warehouse_id, qty)
    WHERE l.sku_id = d.sku_id AND l.warehouse_id = d.warehouse_id`);
}

export interface MovementInput {
  skuId: number;
  warehouseId: number;
  kind: MovementKind;
  /** Signed change of on-hand; never 0. */
  quantity: number;
  /** Units of reservation consumed with this movement (shipments of reserved stock). */
  consumesReserved?: number;
  idempotencyKey: string;
  reference?: string | null;
  note?: string | null;
}

/** Largest on-hand one balance can hold (the column is a PostgreSQL integer). */
export const MAX_ON_HAND = 2_147_483_647;

/**
 * Appends movements to the ledger and changes the balances in the same statement batch.
 * Rows are upserted in key order. A change that would leave on-hand below zero or below what
 * is reserved, or above {@link MAX_ON_HAND}, is refused with a StockConflictError naming the SKU
 * and warehouse.
 */
export async function applyMovements(
  tx: Tx,
  movements: MovementInput[],
  skus: Map<number, SkuRow>,
): Promise<void> {
  const byLevel = new Map<string, { skuId: number; warehouseId: number; delta: number; consumed: number }>();
  for (const m of movements) {
    const k = levelKey(m.skuId, m.warehouseId);
    const agg = byLevel.get(k) ?? { skuId: m.skuId, warehouseId: m.warehouseId, delta: 0, consumed: 0 };
    agg.delta += m.quantity;
    agg.consumed += m.consumesReserved ?? 0;
    byLevel.set(k, agg);
  }
  const sorted = [...byLevel.values()].sort((a, b) => a.skuId - b.skuId || a.warehouseId - b.warehouseId);
  for (const l of sorted) {
    const rows =
      l.delta >= 0 && l.consumed === 0
        ? await tx.query<{ on_hand: number }>(sql`
            INSERT INTO stock_level AS l (sku_id, warehouse_id, on_hand, reserved)
            VALUES (${l.skuId}, ${l.warehouseId}, ${l.delta}, 0)
            ON CONFLICT (sku_id, warehouse_id) DO UPDATE SET on_hand = l.on_hand + ${l.delta}, updated_at = now()
              WHERE l.on_hand::bigint + ${l.delta} <= ${MAX_ON_HAND}
            RETURNING on_hand`)
        : await tx.query<{ on_hand: number }>(sql`
            UPDATE stock_level
            SET on_hand = on_hand + ${l.delta}, reserved = reserved - ${l.consumed}, updated_at = now()
            WHERE sku_id = ${l.skuId} AND warehouse_id = ${l.warehouseId}
              AND reserved - ${l.consumed} >= 0 AND on_hand + ${l.delta} >= reserved - ${l.consumed}
              AND on_hand::bigint + ${l.delta} <= ${MAX_ON_HAND}
            RETURNING on_hand`);
    if (rows.length === 0) {
      const [cur] = await tx.query<LevelRow>(sql`
        SELECT sku_id, warehouse_id, on_hand, reserved FROM stock_level
        WHERE sku_id = ${l.skuId} AND warehouse_id = ${l.warehouseId}`);
      const code = skus.get(l.skuId)?.code ?? String(l.skuId);
      const onHand = cur?.on_hand ?? 0;
      throw new StockConflictError(
        `${code} in warehouse ${l.warehouseId}: on hand ${onHand}, reserved ${cur?.reserved ?? 0}; ` +
          (onHand + l.delta > MAX_ON_HAND
            ? `a change of ${l.delta} would exceed the largest on-hand a balance can hold (${MAX_ON_HAND})`
            : `a change of ${l.delta} would leave less on hand than reserved`),
      );
    }
  }
  const keys = movements.map((m) => m.idempotencyKey);
  await tx.execute(sql`
    INSERT INTO stock_movement (sku_id, warehouse_id, kind, quantity, idempotency_key, reference, note)
    SELECT sku_id, warehouse_id, kind::"MovementKind", quantity, key, reference, note FROM unnest(
      ${movements.map((m) => m.skuId)}::int[],
      ${movements.map((m) => m.warehouseId)}::int[],
      ${movements.map((m) => m.kind)}::text[],
      ${movements.map((m) => m.quantity)}::int[],
      ${keys}::text[],
      ${movements.map((m) => m.reference ?? null)}::text[],
      ${movements.map((m) => m.note ?? null)}::text[]) AS m(sku_id, warehouse_id, kind, quantity, key, reference, note)`);
}

export function levelKey(skuId: number, warehouseId: number): string {
  return `${skuId}:${warehouseId}`;
}

export function unzipDeltas(deltas: Map<string, number>) {
  const skus: number[] = [];
  const whs: number[] = [];
  const qty: number[] = [];
  for (const [k, q] of deltas) {
    if (q === 0) continue;
    const [s, w] = k.split(':').map(Number) as [number, number];
    skus.push(s);
    whs.push(w);
    qty.push(q);
  }
  return { skus, whs, qty };
}

/** Refuses bundle SKUs where only physical stock makes sense. */
export function requirePhysical(skus: Map<number, SkuRow>, ids: Iterable<number>): void {
  const bundles = [...new Set(ids)].filter((id) => skus.get(id)?.kind === 'bundle');
  if (bundles.length > 0) {
    throw new ValidationError(
      `${bundles.map((id) => skus.get(id)!.code).join(', ')}: a bundle has no stock of its own; move its components`,
    );
  }
}
