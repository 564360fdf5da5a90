import { z } from 'zod';
import { sql } from '../db/sql.js';
import { bundleAts, simpleAts } from '../domain/ats.js';
import { expandToPhysical } from '../domain/bundles.js';
import { loadContext } from './store.js';
import type { Tx, TxRunner } from './tx.js';
import { entityId, parseInput } from './validation.js';

const atsInput = z.strictObject({
  skuIds: z.array(entityId).min(1).max(10_000),
  /** Warehouses that feed the channel; default: every active warehouse. */
  warehouseIds: z.array(entityId).min(1).max(100).optional(),
});

export type AtsInput = z.input<typeof atsInput>;

export interface AtsView {
  skuId: number;
  code: string;
  kind: 'simple' | 'bundle';
  /** Physical units (simple SKUs only; 0 for bundles). */
  onHand: number;
  reserved: number;
  safetyStock: number;
  /** Available to sell: free stock minus safety stock, floored at 0; bundles: whole bundles their components allow. */
  ats: number;
}

/** One SKU's balance in one warehouse. */
export interface LevelView {
  warehouseId: number;
  warehouseCode: string;
  /** Inactive warehouses keep their stock but feed no channel's ATS. */
  active: boolean;
  onHand: number;
  reserved: number;
}

/** Available-to-sell per SKU over a set of warehouses. Reads only. */
export class Availability {
  constructor(private readonly tx: TxRunner) {}

  /** `within`: read inside the caller's transaction (the push planner). */
  async ats(input: AtsInput, within?: Tx): Promise<AtsView[]> {
    const d = parseInput(atsInput, input, 'availability query');
    return this.tx.join(within, async (tx) => {
      const warehouseIds =
        d.warehouseIds ??
        (await tx.query<{ id: number }>(sql`SELECT id FROM warehouse WHERE active`)).map((w) => w.id);
      const { skus, graph } = await loadContext(tx, d.skuIds, d.warehouseIds ?? []);
      const recipes = new Map(d.skuIds.map((id) => [id, expandToPhysical(graph, id, 1)]));
      const physical = new Set<number>();
      for (const r of recipes.values()) for (const id of r.keys()) physical.add(id);

      // float8, not int: each balance fits an int, a SKU's total over warehouses need not.
      const levels = await tx.query<{ sku_id: number; on_hand: number; reserved: number }>(sql`
        SELECT sku_id, SUM(on_hand)::float8 AS on_hand, SUM(reserved)::float8 AS reserved FROM stock_level
        WHERE sku_id = ANY(${[...physical]}::int[]) AND warehouse_id = ANY(${warehouseIds}::int[])
        GROUP BY sku_id`);
      const bySku = new Map(levels.map((l) => [l.sku_id, { onHand: l.on_hand, reserved: l.reserved }]));
      const physicalAts = new Map(
        [...physical].map((id) => [
          id,
          simpleAts(bySku.has(id) ? [bySku.get(id)!] : [], skus.get(id)!.safety_stock),
        ]),
      );
      return d.skuIds.map((id) => {
        const sku = skus.get(id)!;
        if (sku.kind === 'simple') {
          const l = bySku.get(id) ?? { onHand: 0, reserved: 0 };
          return {
            skuId: id,
            code: sku.code,
            kind: sku.kind,
            ...l,
            safetyStock: sku.safety_stock,
            ats: physicalAts.get(id)!,
          };
        }
        const ats = Math.max(0, bundleAts(recipes.get(id)!, physicalAts) - sku.safety_stock);
        return {
          skuId: id,
          code: sku.code,
          kind: sku.kind,
          onHand: 0,
          reserved: 0,
          safetyStock: sku.safety_stock,
          ats,
        };
      });
    });
  }

  /**
   * Per-warehouse balances of one SKU: every warehouse that has a balance row for it, inactive
   * ones included, by warehouse code. Bundles hold no stock: their list is empty.
   */
  async levels(skuId: number): Promise<LevelView[]> {
    const id = parseInput(entityId, skuId, 'SKU id');
    return this.tx.run((tx) =>
      tx.query<LevelView>(sql`
        SELECT w.id AS "warehouseId", w.code AS "warehouseCode", w.active,
               l.on_hand AS "onHand", l.reserved
        FROM stock_level l JOIN warehouse w ON w.id = l.warehouse_id
        WHERE l.sku_id = ${id}
        ORDER BY w.code`),
    );
  }
}
