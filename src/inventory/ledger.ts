import { z } from 'zod';
import { StockConflictError, ValidationError } from '../domain/errors.js';
import { once } from './operations.js';
import { applyMovements, loadContext, lockLevels, type MovementInput, requirePhysical } from './store.js';
import type { Tx, TxRunner } from './tx.js';
import {
  entityId,
  idempotencyKey,
  MAX_QUANTITY,
  nonNegativeQty,
  parseInput,
  positiveQty,
} from './validation.js';

const text = z.string().trim().max(500).nullish();

const receiptInput = z.strictObject({
  key: idempotencyKey,
  skuId: entityId,
  warehouseId: entityId,
  quantity: positiveQty,
  reference: text,
  note: text,
});

const adjustmentInput = z.strictObject({
  key: idempotencyKey,
  skuId: entityId,
  warehouseId: entityId,
  delta: z
    .number()
    .int()
    .min(-MAX_QUANTITY)
    .max(MAX_QUANTITY)
    .refine((d) => d !== 0, 'must not be 0'),
  reason: z.string().trim().min(1).max(500),
});

const transferInput = z
  .strictObject({
    key: idempotencyKey,
    skuId: entityId,
    fromWarehouseId: entityId,
    toWarehouseId: entityId,
    quantity: positiveQty,
    note: text,
  })
  .refine((t) => t.fromWarehouseId !== t.toWarehouseId, {
    message: 'must differ from fromWarehouseId',
    path: ['toWarehouseId'],
  });

const stocktakeInput = z.strictObject({
  key: idempotencyKey,
  warehouseId: entityId,
  counts: z
    .array(z.strictObject({ skuId: entityId, counted: nonNegativeQty }))
    .min(1)
    .max(10_000)
    .refine((cs) => new Set(cs.map((c) => c.skuId)).size === cs.length, 'each SKU may be counted once'),
  note: text,
});

export type ReceiptInput = z.input<typeof receiptInput>;
export type AdjustmentInput = z.input<typeof adjustmentInput>;
export type TransferInput = z.input<typeof transferInput>;
export type StocktakeInput = z.input<typeof stocktakeInput>;

export interface MovementResult {
  key: string;
  movements: { skuId: number; warehouseId: number; kind: string; quantity: number }[];
}

export interface StocktakeResult extends MovementResult {
  lines: { skuId: number; before: number; counted: number; delta: number }[];
}

/** On-hand changes: receipts, returns, adjustments, transfers, stocktakes. Each is one idempotent write. */
export class Ledger {
  constructor(private readonly tx: TxRunner) {}

  /** Goods received into a warehouse (purchase receipt, opening balance). */
  async receive(input: ReceiptInput): Promise<MovementResult> {
    return this.single('receipt', receiptInput, input, undefined, (d) => ({
      delta: d.quantity,
      reference: d.reference,
      note: d.note,
    }));
  }

  /** Goods returned by a customer and put back into sellable stock. */
  async returnStock(input: ReceiptInput, within?: Tx): Promise<MovementResult> {
    return this.single('return', receiptInput, input, within, (d) => ({
      delta: d.quantity,
      reference: d.reference,
      note: d.note,
    }));
  }

  /** A manual correction (damage, loss, found goods). Cannot take on-hand below what is reserved. */
  async adjust(input: AdjustmentInput): Promise<MovementResult> {
    return this.single('adjustment', adjustmentInput, input, undefined, (d) => ({
      delta: d.delta,
      note: d.reason,
    }));
  }

  /** Moves free (unreserved) units between warehouses: two movements in one transaction. */
  async transfer(input: TransferInput): Promise<MovementResult> {
    const d = parseInput(transferInput, input, 'transfer');
    return this.tx.run(async (tx) => {
      const { result } = await once(tx, d.key, 'transfer', d, async () => {
        const { skus } = await loadContext(tx, [d.skuId], [d.fromWarehouseId, d.toWarehouseId]);
        requirePhysical(skus, [d.skuId]);
        const movements: MovementInput[] = [
          {
            skuId: d.skuId,
            warehouseId: d.fromWarehouseId,
            kind: 'transfer',
            quantity: -d.quantity,
            idempotencyKey: `${d.key}#out`,
            note: d.note ?? null,
            reference: `to warehouse ${d.toWarehouseId}`,
          },
          {
            skuId: d.skuId,
            warehouseId: d.toWarehouseId,
            kind: 'transfer',
            quantity: d.quantity,
            idempotencyKey: `${d.key}#in`,
            note: d.note ?? null,
            reference: `from warehouse ${d.fromWarehouseId}`,
          },
        ];
        await applyMovements(tx, movements, skus);
        return summarize(d.key, movements);
      });
      return result;
    });
  }

  /**
   * Sets counted quantities (盘点): each SKU's on-hand becomes its count, the difference is
   * booked as a stocktake movement. A count below what is reserved is refused for all SKUs
   * (release or reassign those reservations first); nothing is applied.
   */
  async stocktake(input: StocktakeInput): Promise<StocktakeResult> {
    const d = parseInput(stocktakeInput, input, 'stocktake');
    return this.tx.run(async (tx) => {
      const { result } = await once(tx, d.key, 'stocktake', d, async () => {
        const ids = d.counts.map((c) => c.skuId);
        const { skus } = await loadContext(tx, ids, [d.warehouseId]);
        requirePhysical(skus, ids);
        const levels = new Map((await lockLevels(tx, ids, [d.warehouseId])).map((l) => [l.sku_id, l]));
        const under = d.counts.filter((c) => c.counted < (levels.get(c.skuId)?.reserved ?? 0));
        if (under.length > 0) {
          throw new StockConflictError(
            `counted below reserved: ${under
              .map(
                (c) =>
                  `${skus.get(c.skuId)!.code} counted ${c.counted}, reserved ${levels.get(c.skuId)!.reserved}`,
              )
              .join('; ')}`,
          );
        }
        const lines = d.counts.map((c) => {
          const before = levels.get(c.skuId)?.on_hand ?? 0;
          return { skuId: c.skuId, before, counted: c.counted, delta: c.counted - before };
        });
        const movements: MovementInput[] = lines
          .filter((l) => l.delta !== 0)
          .map((l) => ({
            skuId: l.skuId,
            warehouseId: d.warehouseId,
            kind: 'stocktake',
            quantity: l.delta,
            idempotencyKey: `${d.key}#${l.skuId}`,
            note: d.note ?? null,
            reference: `counted ${l.counted}`,
          }));
        if (movements.length > 0) await applyMovements(tx, movements, skus);
        return { ...summarize(d.key, movements), lines };
      });
      return result;
    });
  }

  private async single<S extends typeof receiptInput | typeof adjustmentInput>(
    kind: 'receipt' | 'return' | 'adjustment',
    schema: S,
    input: unknown,
    within: Tx | undefined,
    shape: (d: z.output<S>) => {
      delta: number;
      reference?: string | null | undefined;
      note?: string | null | undefined;
    },
  ): Promise<MovementResult> {
    const d = parseInput(schema, input, kind) as z.output<S>;
    const { delta, reference, note } = shape(d);
    if (!Number.isInteger(delta) || delta === 0)
      throw new ValidationError(`${kind}: quantity must be a non-zero integer`);
    return this.tx.join(within, async (tx) => {
      const { result } = await once(tx, d.key, kind, d, async () => {
        const { skus } = await loadContext(tx, [d.skuId], [d.warehouseId]);
        requirePhysical(skus, [d.skuId]);
        const movements: MovementInput[] = [
          {
            skuId: d.skuId,
            warehouseId: d.warehouseId,
            kind,
            quantity: delta,
            idempotencyKey: d.key,
            reference: reference ?? null,
            note: note ?? null,
          },
        ];
        await applyMovements(tx, movements, skus);
        return summarize(d.key, movements);
      });
      return result;
    });
  }
}

function summarize(key: string, movements: MovementInput[]): MovementResult {
  return {
    key,
    movements: movements.map((m) => ({
      skuId: m.skuId,
      warehouseId: m.warehouseId,
      kind: m.kind,
      quantity: m.quantity,
    })),
  };
}
