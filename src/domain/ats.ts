import type { ComponentMap } from './bundles.js';

/**
 * Available to sell for a simple SKU over a set of warehouses:
 * sum(onHand - reserved) - safetyStock, floored at 0.
 */
export function simpleAts(
  levels: readonly { onHand: number; reserved: number }[],
  safetyStock: number,
): number {
  const free = levels.reduce((sum, l) => sum + (l.onHand - l.reserved), 0);
  return Math.max(0, free - safetyStock);
}

/**
 * Available to sell for a bundle: the number of whole bundles its components' ATS allow,
 * the minimum over components of floor(componentAts / unitsPerBundle). A bundle with no
 * components has ATS 0.
 */
export function bundleAts(components: ComponentMap, componentAts: ReadonlyMap<number, number>): number {
  if (components.size === 0) return 0;
  let min = Number.POSITIVE_INFINITY;
  for (const [id, per] of components) min = Math.min(min, Math.floor((componentAts.get(id) ?? 0) / per));
  return min;
}
