import { sql } from '../db/sql.js';
import type { TxRunner } from './tx.js';

export interface Violation {
  rule:
    | 'on_hand_equals_ledger'
    | 'reserved_equals_active_reservations'
    | 'balance_bounds'
    | 'bundle_holds_no_stock';
  skuId: number;
  skuCode: string;
  warehouseId: number;
  expected: number | string;
  actual: number | string;
}

export interface VerifyReport {
  ok: boolean;
  checkedLevels: number;
  violations: Violation[];
}

/**
 * Checks the ledger invariants over the whole database, in one snapshot:
 * on_hand == sum(movements) and reserved == sum(active reservations) per (sku, warehouse),
 * 0 <= reserved <= on_hand, and no stock held by bundle SKUs.
 */
export async function verifyInventory(tx: TxRunner): Promise<VerifyReport> {
  return tx.run(async (t) => {
    await t.execute(sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    const ledger = await t.query<Omit<Violation, 'rule'>>(sql`
      SELECT k.sku_id AS "skuId", s.code AS "skuCode", k.warehouse_id AS "warehouseId",
             COALESCE(m.total, 0)::int AS expected, COALESCE(l.on_hand, 0)::int AS actual
      FROM (SELECT sku_id, warehouse_id FROM stock_level UNION SELECT sku_id, warehouse_id FROM stock_movement) k
      JOIN sku s ON s.id = k.sku_id
      LEFT JOIN stock_level l ON l.sku_id = k.sku_id AND l.warehouse_id = k.warehouse_id
      LEFT JOIN (SELECT sku_id, warehouse_id, SUM(quantity) AS total FROM stock_movement GROUP BY 1, 2) m
        ON m.sku_id = k.sku_id AND m.warehouse_id = k.warehouse_id
      WHERE COALESCE(m.total, 0) <> COALESCE(l.on_hand, 0)
      ORDER BY 1, 3`);
    const reserved = await t.query<Omit<Violation, 'rule'>>(sql`
      SELECT k.sku_id AS "skuId", s.code AS "skuCode", k.warehouse_id AS "warehouseId",
             COALESCE(r.total, 0)::int AS expected, COALESCE(l.reserved, 0)::int AS actual
      FROM (SELECT sku_id, warehouse_id FROM stock_level
            UNION SELECT sku_id, warehouse_id FROM reservation WHERE status = 'active') k
      JOIN sku s ON s.id = k.sku_id
      LEFT JOIN stock_level l ON l.sku_id = k.sku_id AND l.warehouse_id = k.warehouse_id
      LEFT JOIN (SELECT sku_id, warehouse_id, SUM(quantity) AS total FROM reservation
                 WHERE status = 'active' GROUP BY 1, 2) r
        ON r.sku_id = k.sku_id AND r.warehouse_id = k.warehouse_id
      WHERE COALESCE(r.total, 0) <> COALESCE(l.reserved, 0)
      ORDER BY 1, 3`);
    const bounds = await t.query<Omit<Violation, 'rule'>>(sql`
      SELECT l.sku_id AS "skuId", s.code AS "skuCode", l.warehouse_id AS "warehouseId",
             '0 <= reserved <= on_hand' AS expected,
             'on_hand ' || l.on_hand || ', reserved ' || l.reserved AS actual
      FROM stock_level l JOIN sku s ON s.id = l.sku_id
      WHERE l.on_hand < 0 OR l.reserved < 0 OR l.reserved > l.on_hand
      ORDER BY 1, 3`);
    const bundles = await t.query<Omit<Violation, 'rule'>>(sql`
      SELECT l.sku_id AS "skuId", s.code AS "skuCode", l.warehouse_id AS "warehouseId",
             0 AS expected, (l.on_hand + l.reserved)::int AS actual
      FROM stock_level l JOIN sku s ON s.id = l.sku_id
      WHERE s.kind = 'bundle' AND (l.on_hand <> 0 OR l.reserved <> 0)
      ORDER BY 1, 3`);
    const [{ n }] = (await t.query<{ n: number }>(sql`SELECT COUNT(*)::int AS n FROM stock_level`)) as [
      { n: number },
    ];
    const violations: Violation[] = [
      ...ledger.map((v) => ({ ...v, rule: 'on_hand_equals_ledger' as const })),
      ...reserved.map((v) => ({ ...v, rule: 'reserved_equals_active_reservations' as const })),
      ...bounds.map((v) => ({ ...v, rule: 'balance_bounds' as const })),
      ...bundles.map((v) => ({ ...v, rule: 'bundle_holds_no_stock' as const })),
    ];
    return { ok: violations.length === 0, checkedLevels: n, violations };
  });
}
