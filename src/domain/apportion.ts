/**
 * Splitting an integer amount (minor units) over weighted keys so the shares sum exactly to
 * the amount. The arithmetic is done in BigInt: `total x weight` can exceed 2^53.
 */

/** One receiver of a share: a unique key (a line id) and its weight (an amount in minor units). */
export interface Weighted {
  key: string;
  weight: number;
}

/**
 * Deterministic order of platform line ids: two all-digit ids compare as integers (Shopify,
 * Taobao and Doudian ids are numeric, "9" < "10"), anything else by UTF-16 code units (never
 * by locale). Equal numbers with different spellings ("01", "1") fall back to code units.
 */
export function compareLineIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length - y.length;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a === b ? 0 : a < b ? -1 : 1;
}

function check(total: number, items: readonly Weighted[]): bigint {
  if (!Number.isSafeInteger(total) || total < 0)
    throw new RangeError(`total ${total} is not a safe integer >= 0`);
  const keys = new Set<string>();
  let sum = 0n;
  for (const { key, weight } of items) {
    if (keys.has(key)) throw new RangeError(`duplicate key ${JSON.stringify(key)}`);
    keys.add(key);
    if (!Number.isSafeInteger(weight) || weight < 0) {
      throw new RangeError(`weight ${weight} of ${JSON.stringify(key)} is not a safe integer >= 0`);
    }
    sum += BigInt(weight);
  }
  if (sum === 0n && total > 0) throw new RangeError(`cannot split ${total} over zero total weight`);
  return sum;
}

/**
 * Splits `total` over `items` in proportion to their weights with the largest remainder
 * (Hamilton) method — the house rule for order-level discounts:
 * 1. each key gets floor(total x weight / sum of weights);
 * 2. the cents left over (fewer than the number of keys) go one each to the keys with the
 *    largest remainders of that division, ties broken by {@link compareLineIds} ascending.
 *
 * Guarantees: shares sum exactly to `total`; every share is within 1 of its exact
 * proportional value; a zero-weight key gets 0; when `total <= sum of weights`, no share
 * exceeds its weight; a key's share does not depend on the order of `items`.
 *
 * Returns shares aligned with `items`. Throws RangeError on a negative or unsafe input, a
 * duplicate key, or a positive total over zero total weight.
 */
export function allocateLargestRemainder(total: number, items: readonly Weighted[]): number[] {
  const sum = check(total, items);
  if (total === 0) return items.map(() => 0);
  const t = BigInt(total);
  const parts = items.map(({ key, weight }, index) => {
    const product = t * BigInt(weight);
    return { key, index, floor: product / sum, remainder: product % sum };
  });
  let left = t - parts.reduce((s, p) => s + p.floor, 0n);
  const ranked = [...parts].sort((a, b) =>
    a.remainder === b.remainder ? compareLineIds(a.key, b.key) : a.remainder > b.remainder ? -1 : 1,
  );
  const shares = parts.map((p) => p.floor);
  for (const p of ranked) {
    if (left === 0n) break;
    shares[p.index] = p.floor + 1n;
    left -= 1n;
  }
  return shares.map(Number);
}

/**
 * Taobao's documented split (docId 108471; PDD and the notes' §8.3 describe the same): in the
 * given order, every line with a positive weight but the last gets total x weight / sum
 * rounded half up; the last positive-weight line takes what is left.
 *
 * Not the house rule: it depends on line order, and it can give the last line a negative
 * share or more than its weight (weights 10/10/10/1: total 5 -> 2/2/2/-1, total 26 -> 8/8/8/2).
 * It exists only for a connector that must reproduce a split the platform itself made (e.g.
 * rebuild Taobao `part_mjz_discount` when the field is missing) and hand it in as a
 * promotion's `allocations`. Throws RangeError when the split is invalid in that way
 * (negative last share, or a share above its weight while `total <= sum of weights`).
 */
export function allocateLastLineRemainder(total: number, items: readonly Weighted[]): number[] {
  const sum = check(total, items);
  if (total === 0) return items.map(() => 0);
  const t = BigInt(total);
  let last = -1;
  items.forEach((item, i) => {
    if (item.weight > 0) last = i;
  });
  let given = 0n;
  const shares = items.map(({ weight }, i) => {
    if (weight === 0 || i === last) return 0n;
    const product = t * BigInt(weight);
    const share = product / sum + (2n * (product % sum) >= sum ? 1n : 0n);
    given += share;
    return share;
  });
  shares[last] = t - given;
  shares.forEach((share, i) => {
    const item = items[i]!;
    if (share < 0n || (t <= sum && share > BigInt(item.weight))) {
      throw new RangeError(
        `last-line split of ${total} gives ${JSON.stringify(item.key)} ${share} for weight ${item.weight}`,
      );
    }
  });
  return shares.map(Number);
}
