/** Free units of one SKU in one warehouse (onHand - reserved), in the caller's priority order. */
export interface FreeStock {
  warehouseId: number;
  free: number;
}

export interface Allocation {
  skuId: number;
  warehouseId: number;
  quantity: number;
}

/**
 * Takes `quantity` units of one SKU from `pool` in priority order, splitting across
 * warehouses when the first is short. Mutates `pool` (what is taken is no longer free).
 * Returns the allocations and the units that could not be placed.
 */
export function takeFromPool(
  skuId: number,
  quantity: number,
  pool: FreeStock[],
): { allocations: Allocation[]; missing: number } {
  const allocations: Allocation[] = [];
  let left = quantity;
  for (const slot of pool) {
    if (left === 0) break;
    const take = Math.min(slot.free, left);
    if (take <= 0) continue;
    slot.free -= take;
    left -= take;
    allocations.push({ skuId, warehouseId: slot.warehouseId, quantity: take });
  }
  return { allocations, missing: left };
}

export function totalFree(pool: readonly FreeStock[]): number {
  return pool.reduce((sum, s) => sum + Math.max(0, s.free), 0);
}
