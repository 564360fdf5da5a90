import { BundleCycleError } from './errors.js';

/** component SKU id -> units per one unit of the parent. */
export type ComponentMap = ReadonlyMap<number, number>;

/** Bundle definitions: bundle SKU id -> its direct components. Simple SKUs are absent. */
export type BundleGraph = ReadonlyMap<number, ComponentMap>;

/** Maximum nesting of bundles inside bundles; a deeper chain is almost surely a data error. */
export const MAX_BUNDLE_DEPTH = 8;

/**
 * Expands `quantity` units of `skuId` into physical (simple) SKUs, summing shared components.
 * A simple SKU expands to itself.
 */
export function expandToPhysical(graph: BundleGraph, skuId: number, quantity: number): Map<number, number> {
  const out = new Map<number, number>();
  const walk = (id: number, qty: number, depth: number, path: number[]) => {
    const components = graph.get(id);
    if (!components) {
      out.set(id, (out.get(id) ?? 0) + qty);
      return;
    }
    if (path.includes(id)) throw new BundleCycleError([...path, id].map(String));
    if (depth > MAX_BUNDLE_DEPTH) throw new BundleCycleError([...path, id].map(String));
    for (const [component, per] of components) walk(component, qty * per, depth + 1, [...path, id]);
  };
  walk(skuId, quantity, 0, []);
  return out;
}

/**
 * Returns the cycle (as SKU ids, first == last) that defining `bundleId` with `components`
 * would create, or null. `graph` holds the other bundles as they are.
 */
export function findCycle(
  graph: BundleGraph,
  bundleId: number,
  components: Iterable<number>,
): number[] | null {
  const next = new Map(graph);
  next.set(bundleId, new Map([...components].map((c) => [c, 1])));
  const visit = (id: number, path: number[]): number[] | null => {
    if (path.includes(id)) return [...path.slice(path.indexOf(id)), id];
    const children = next.get(id);
    if (!children) return null;
    for (const child of children.keys()) {
      const cycle = visit(child, [...path, id]);
      if (cycle) return cycle;
    }
    return null;
  };
  return visit(bundleId, []);
}
