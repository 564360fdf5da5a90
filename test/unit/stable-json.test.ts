import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestHash, stableJson } from '../../src/inventory/operations.js';
import { orderRevisionKey } from '../../src/orders/inbox.js';

/**
 * What stableJson wrote before it used safe-stable-stringify: JSON.stringify with a replacer
 * that sorts each object's keys. Idempotency keys' request hashes and inbox dedupe keys stored
 * by earlier versions were made from it, so the output must not change by a byte for what is
 * hashed: requests and orders as their schemas give them, whose keys are field names.
 *
 * (Keys that look like array indexes differed: JavaScript lists those first whatever the order
 * they were set in, so the replacer's "sorted" object put "10" before "a" and "9" before "10";
 * the library sorts them as strings. No hashed input has such keys: every schema names its
 * fields, none is a record.)
 */
function sortingReplacer(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Any string but an array index (see above). */
const fieldName = fc.string({ unit: 'binary' }).filter((k) => !/^(0|[1-9][0-9]*)$/.test(k));

/** JSON-ish values as requests and orders hold them, with what JSON.stringify treats specially. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fieldName, tie('node'), { maxKeys: 6 }),
  ),
})).node;

describe('stableJson', () => {
  it('writes byte for byte what the sorting replacer wrote (stored hashes stay valid)', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(stableJson(v)).toBe(sortingReplacer(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts keys at every depth, and throws on a cycle as JSON.stringify does', () => {
    expect(stableJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined }, B: new Date(0) })).toBe(
      '{"B":"1970-01-01T00:00:00.000Z","a":{"d":[{"y":2,"z":1}]},"b":1}',
    );
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => stableJson(cyclic)).toThrow(TypeError);
  });

  it('keeps the hashes of a request and of an order revision as they were', () => {
    const sha256 = (...parts: string[]) => {
      const h = createHash('sha256');
      for (const p of parts) h.update(p);
      return h.digest('hex');
    };
    const request = { warehouseIds: [1], key: 'o-1', lines: [{ quantity: 2, lineKey: 'o-1:1', skuId: 7 }] };
    expect(requestHash('reserve', request)).toBe(sha256('reserve', '\0', sortingReplacer(request)));
    const order = {
      platformOrderId: '42',
      platformModifiedAt: '2026-11-11T00:00:00.000Z',
      lines: [{ b: 1, a: 2 }],
    };
    expect(orderRevisionKey(order)).toBe(
      `order:42:2026-11-11T00:00:00.000Z::${sha256(sortingReplacer(order)).slice(0, 24)}`,
    );
  });
});
