import { z } from 'zod';
import { sql } from '../db/sql.js';
import { findCycle } from '../domain/bundles.js';
import { BundleCycleError, NotFoundError, StockConflictError, ValidationError } from '../domain/errors.js';
import { loadBundleGraph } from './store.js';
import { type PrismaTx, sqlOf, type TxRunner } from './tx.js';
import { code, entityId, parseInput, positiveQty } from './validation.js';

export interface SkuView {
  id: number;
  code: string;
  name: string;
  barcode: string | null;
  kind: 'simple' | 'bundle';
  safetyStock: number;
  /** Present for bundles: component codes and units per bundle. */
  components?: { skuId: number; code: string; quantity: number }[];
}

export interface WarehouseView {
  id: number;
  code: string;
  name: string;
  active: boolean;
}

const skuInput = z.strictObject({
  code,
  name: z.string().trim().min(1).max(500),
  barcode: z.string().trim().min(1).max(100).nullish(),
  safetyStock: z.number().int().nonnegative().max(1_000_000_000).optional(),
});

const bundleInput = skuInput.extend({
  components: z
    .array(z.strictObject({ code, quantity: positiveQty }))
    .min(1)
    .max(100)
    .refine((cs) => new Set(cs.map((c) => c.code)).size === cs.length, 'each component may appear once'),
});

const warehouseInput = z.strictObject({
  code,
  name: z.string().trim().min(1).max(500),
  active: z.boolean().optional(),
});

const resolveInput = z.strictObject({
  skus: z.array(code).max(10_000).default([]),
  warehouses: z.array(code).max(1000).default([]),
});

const codesOfInput = z.strictObject({
  skuIds: z.array(entityId).max(10_000).default([]),
  warehouseIds: z.array(entityId).max(1000).default([]),
});

export type ResolveInput = z.input<typeof resolveInput>;
export type CodesOfInput = z.input<typeof codesOfInput>;

/** What {@link Catalog.resolve} knows about each code. */
export interface ResolvedRefs {
  skus: Map<string, { id: number; kind: 'simple' | 'bundle' }>;
  warehouses: Map<string, { id: number; active: boolean }>;
}

export type SkuInput = z.input<typeof skuInput>;
export type BundleInput = z.input<typeof bundleInput>;
export type WarehouseInput = z.input<typeof warehouseInput>;

/** SKUs (商家编码), bundles (组合商品) and warehouses. Writes are keyed by code: put = create or update. */
export class Catalog {
  constructor(private readonly tx: TxRunner) {}

  /** Creates or updates a simple SKU by code. */
  async putSku(input: SkuInput): Promise<SkuView> {
    const data = parseInput(skuInput, input, 'SKU');
    return this.tx.runPrisma(async (tx) => {
      const existing = await tx.sku.findUnique({ where: { code: data.code } });
      if (existing?.kind === 'bundle') {
        throw new ValidationError(`SKU ${data.code} is a bundle; update it as a bundle`);
      }
      await this.checkBarcode(tx, data.code, data.barcode);
      const row = await this.upsertSku(tx, data, 'simple');
      await markDirty(tx, row.id);
      return toSkuView(row);
    });
  }

  /** Creates or updates a bundle and replaces its recipe. Refuses cycles and bundles that hold stock. */
  async putBundle(input: BundleInput): Promise<SkuView> {
    const data = parseInput(bundleInput, input, 'bundle');
    return this.tx.runPrisma(async (tx) => {
      const components = await tx.sku.findMany({
        where: { code: { in: data.components.map((c) => c.code) } },
      });
      const byCode = new Map(components.map((c) => [c.code, c]));
      const missing = data.components.filter((c) => !byCode.has(c.code)).map((c) => c.code);
      if (missing.length > 0) throw new NotFoundError('sku', missing);
      if (byCode.has(data.code)) throw new BundleCycleError([data.code, data.code]);

      const existing = await tx.sku.findUnique({ where: { code: data.code } });
      if (existing?.kind === 'simple') {
        const held = await tx.stockLevel.count({
          where: { skuId: existing.id, OR: [{ onHand: { gt: 0 } }, { reserved: { gt: 0 } }] },
        });
        const moved = await tx.stockMovement.count({ where: { skuId: existing.id } });
        if (held > 0 || moved > 0) {
          throw new StockConflictError(`SKU ${data.code} has stock history; it cannot become a bundle`);
        }
      }
      await this.checkBarcode(tx, data.code, data.barcode);
      const row = await this.upsertSku(tx, data, 'bundle');
      await markDirty(tx, row.id);
      const ids = components.map((c) => c.id);
      const graph = await loadBundleGraph(sqlOf(tx), ids);
      const cycle = findCycle(graph, row.id, ids);
      if (cycle) {
        const names = await tx.sku.findMany({
          where: { id: { in: cycle } },
          select: { id: true, code: true },
        });
        const codeOf = new Map(names.map((n) => [n.id, n.code]));
        throw new BundleCycleError(cycle.map((id) => codeOf.get(id) ?? String(id)));
      }
      await tx.bundleComponent.deleteMany({ where: { bundleId: row.id } });
      await tx.bundleComponent.createMany({
        data: data.components.map((c) => ({
          bundleId: row.id,
          componentId: byCode.get(c.code)!.id,
          quantity: c.quantity,
        })),
      });
      return this.viewOf(tx, row.id);
    });
  }

  async putWarehouse(input: WarehouseInput): Promise<WarehouseView> {
    const data = parseInput(warehouseInput, input, 'warehouse');
    return this.tx.runPrisma(async (tx) => {
      const row = await tx.warehouse.upsert({
        where: { code: data.code },
        create: { code: data.code, name: data.name, active: data.active ?? true },
        update: { name: data.name, ...(data.active !== undefined ? { active: data.active } : {}) },
      });
      return { id: row.id, code: row.code, name: row.name, active: row.active };
    });
  }

  async getSku(codeOrId: string | number): Promise<SkuView> {
    return this.tx.runPrisma(async (tx) => {
      const row = await tx.sku.findUnique({
        where: typeof codeOrId === 'number' ? { id: codeOrId } : { code: codeOrId },
      });
      if (!row) throw new NotFoundError('sku', [codeOrId]);
      return this.viewOf(tx, row.id);
    });
  }

  async getWarehouse(codeOrId: string | number): Promise<WarehouseView> {
    const row = await this.tx.runPrisma((tx) =>
      tx.warehouse.findUnique({
        where: typeof codeOrId === 'number' ? { id: codeOrId } : { code: codeOrId },
      }),
    );
    if (!row) throw new NotFoundError('warehouse', [codeOrId]);
    return { id: row.id, code: row.code, name: row.name, active: row.active };
  }

  /**
   * Resolves SKU and warehouse codes (human identifiers) to ids, in one transaction. Throws a
   * NotFoundError naming every unknown SKU code (or, when all SKUs exist, every unknown warehouse
   * code). Inactive warehouses resolve too: the stock services refuse them themselves.
   */
  async resolve(input: ResolveInput): Promise<ResolvedRefs> {
    const d = parseInput(resolveInput, input, 'code lookup');
    const skuCodes = [...new Set(d.skus)];
    const whCodes = [...new Set(d.warehouses)];
    return this.tx.runPrisma(async (tx) => {
      const skus =
        skuCodes.length === 0
          ? []
          : await tx.sku.findMany({
              where: { code: { in: skuCodes } },
              select: { id: true, code: true, kind: true },
            });
      const warehouses =
        whCodes.length === 0
          ? []
          : await tx.warehouse.findMany({
              where: { code: { in: whCodes } },
              select: { id: true, code: true, active: true },
            });
      const result: ResolvedRefs = {
        skus: new Map(skus.map((s) => [s.code, { id: s.id, kind: s.kind }])),
        warehouses: new Map(warehouses.map((w) => [w.code, { id: w.id, active: w.active }])),
      };
      const missingSkus = skuCodes.filter((c) => !result.skus.has(c));
      if (missingSkus.length > 0) throw new NotFoundError('sku', missingSkus);
      const missingWarehouses = whCodes.filter((c) => !result.warehouses.has(c));
      if (missingWarehouses.length > 0) throw new NotFoundError('warehouse', missingWarehouses);
      return result;
    });
  }

  /** The codes of SKU and warehouse ids, for showing results to humans. Unknown ids are absent. */
  async codesOf(
    input: CodesOfInput,
  ): Promise<{ skus: Map<number, string>; warehouses: Map<number, string> }> {
    const d = parseInput(codesOfInput, input, 'id lookup');
    const skuIds = [...new Set(d.skuIds)];
    const whIds = [...new Set(d.warehouseIds)];
    return this.tx.runPrisma(async (tx) => {
      const skus =
        skuIds.length === 0
          ? []
          : await tx.sku.findMany({ where: { id: { in: skuIds } }, select: { id: true, code: true } });
      const warehouses =
        whIds.length === 0
          ? []
          : await tx.warehouse.findMany({ where: { id: { in: whIds } }, select: { id: true, code: true } });
      return {
        skus: new Map(skus.map((s) => [s.id, s.code])),
        warehouses: new Map(warehouses.map((w) => [w.id, w.code])),
      };
    });
  }

  private async viewOf(tx: PrismaTx, id: number): Promise<SkuView> {
    const row = await tx.sku.findUniqueOrThrow({
      where: { id },
      include: {
        components: { include: { component: { select: { code: true } } }, orderBy: { componentId: 'asc' } },
      },
    });
    const view = toSkuView(row);
    if (row.kind === 'bundle') {
      view.components = row.components.map((c) => ({
        skuId: c.componentId,
        code: c.component.code,
        quantity: c.quantity,
      }));
    }
    return view;
  }

  /** Create or update by code; fields left out of an update keep their value. */
  private upsertSku(tx: PrismaTx, data: z.output<typeof skuInput>, kind: 'simple' | 'bundle') {
    return tx.sku.upsert({
      where: { code: data.code },
      create: {
        code: data.code,
        name: data.name,
        kind,
        barcode: data.barcode ?? null,
        safetyStock: data.safetyStock ?? 0,
      },
      update: {
        name: data.name,
        kind,
        ...(data.barcode !== undefined ? { barcode: data.barcode } : {}),
        ...(data.safetyStock !== undefined ? { safetyStock: data.safetyStock } : {}),
      },
    });
  }

  private async checkBarcode(
    tx: PrismaTx,
    skuCode: string,
    barcode: string | null | undefined,
  ): Promise<void> {
    if (!barcode) return;
    const other = await tx.sku.findUnique({ where: { barcode } });
    if (other && other.code !== skuCode) {
      throw new ValidationError(`barcode ${barcode} already belongs to SKU ${other.code}`);
    }
  }
}

function toSkuView(row: {
  id: number;
  code: string;
  name: string;
  barcode: string | null;
  kind: 'simple' | 'bundle';
  safetyStock: number;
}): SkuView {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    barcode: row.barcode,
    kind: row.kind,
    safetyStock: row.safetyStock,
  };
}

/**
 * Marks a SKU for the stock push planner (safety stock or a bundle recipe changes what its
 * listings may show). The planner sees the mark once this commits (see migration stock_dirty_log).
 */
async function markDirty(tx: PrismaTx, skuId: number): Promise<void> {
  await sqlOf(tx).execute(sql`
    INSERT INTO stock_dirty (sku_id) VALUES (${skuId})`);
}
