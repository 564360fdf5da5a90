/**
 * Shared pieces of the fuzz suites (test/fuzz): hostile values, JSON mutation, header text, and a
 * snapshot of every table to prove that a refused request wrote nothing.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Db } from '../../src/db/client.js';

/**
 * fast-check parameters of every property: a failure prints the seed and the shrunk
 * counterexample; `FUZZ_SEED=<seed>` replays a run.
 */
export function fuzzParams(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED;
  return { numRuns, ...(seed ? { seed: Number(seed) } : {}) };
}

/** A JSON value of `depth` nested arrays (`[[[...]]]`), built without recursion. */
export function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Text that breaks naive code: NUL, lone surrogates, bidi and emoji, numbers as text, padding. */
export const nastyStrings = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '😀',
  '商家编码',
  '\u202eevil',
  'null',
  '-1',
  '1e309',
  '0x10',
  '９９',
  "'; DROP TABLE sku; --",
  '%00',
  '../../etc/passwd',
  ' padded ',
] as const;

/** Numbers at and past every bound a quantity, id or amount has. */
export const nastyNumbers = [
  -1,
  0,
  -0,
  0.5,
  1.5,
  -2_147_483_649,
  2_147_483_648,
  1_000_000_001,
  2 ** 53 + 1,
  1e21,
  1e308,
  Number.MIN_VALUE,
] as const;

/** One hostile JSON value: wrong types, bounds, huge strings, deep nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 3 },
  { arbitrary: fc.constantFrom<unknown>(...nastyStrings), weight: 3 },
  { arbitrary: fc.constantFrom<unknown>(...nastyNumbers), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
  { arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}), weight: 2 },
  { arbitrary: fc.integer({ min: 600, max: 5000 }).map((n) => 'x'.repeat(n)), weight: 1 },
  { arbitrary: fc.integer({ min: 20, max: 1000 }).map((d) => nested(d)), weight: 1 },
);

/** Mutations that keep a string field a string: it still passes shape checks. */
export const TAINT_ONLY = ['taint', 'taint', 'taint', 'grow'] as const;

/** Characters a string field may carry into the database unnoticed. */
const TAINTS = ['\u0000', '\ud800', '\udc00', '😀', ' ', '\u200b', 'é'] as const;

type Mutation = {
  pick: number;
  op: 'set' | 'delete' | 'add' | 'wrap' | 'taint' | 'grow';
  value: unknown;
  taint: string;
  length: number;
};

/**
 * `base` (a JSON value) with `min`..`max` random mutations: a field (at any depth) replaced by a
 * hostile value, deleted, wrapped in an array, an extra key added, or a string field kept but
 * tainted (a NUL, half a surrogate pair, an emoji... inserted) or grown to hundreds or thousands of
 * characters, so that it still passes the checks on its shape and reaches the database. The base
 * is never modified.
 */
export function mutateJson(
  base: unknown,
  min = 1,
  max = 4,
  ops: readonly Mutation['op'][] = ['set', 'set', 'delete', 'add', 'wrap', 'taint', 'taint', 'grow'],
): fc.Arbitrary<unknown> {
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    pick: fc.nat(),
    op: fc.constantFrom(...ops),
    value: hostileValue,
    taint: fc.constantFrom(...TAINTS),
    length: fc.integer({ min: 200, max: 5000 }),
  });
  return fc.array(mutation, { minLength: min, maxLength: max }).map((ms) => {
    let root = structuredClone(base);
    for (const m of ms) root = applyMutation(root, m);
    return root;
  });
}

function applyMutation(root: unknown, mutation: Mutation): unknown {
  // A copy of the value: fast-check may hand the same object to two mutations (shrinking does),
  // and inserting it twice, once inside itself, made a cycle JSON cannot encode.
  const m = { ...mutation, value: structuredClone(mutation.value) };
  const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0 && slots.length < 2000) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      containers.push(v);
      v.forEach((x, i) => {
        slots.push({ parent: v, key: i });
        stack.push(x);
      });
    } else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      containers.push(o);
      for (const [k, x] of Object.entries(o)) {
        slots.push({ parent: o, key: k });
        stack.push(x);
      }
    }
  }
  if (m.op === 'add') {
    const target = containers[m.pick % Math.max(1, containers.length)];
    if (!target) return m.value;
    if (Array.isArray(target)) target.push(m.value);
    else target[`extra_${m.pick % 97}`] = m.value;
    return root;
  }
  // One pick in 25 hits the root itself.
  if (slots.length === 0 || m.pick % 25 === 0) {
    return m.op === 'wrap' ? [root] : m.op === 'delete' ? undefined : m.value;
  }
  const { parent, key } = slots[m.pick % slots.length]!;
  const p = parent as Record<string | number, unknown>;
  const current = p[key];
  if ((m.op === 'taint' || m.op === 'grow') && typeof current === 'string') {
    if (m.op === 'grow') p[key] = (current || 'g').repeat(Math.ceil(m.length / Math.max(1, current.length)));
    else {
      const at = m.pick % (current.length + 1);
      p[key] = current.slice(0, at) + m.taint + current.slice(at);
    }
  } else if (m.op === 'set' || m.op === 'taint' || m.op === 'grow') p[key] = m.value;
  else if (m.op === 'wrap') p[key] = [p[key]];
  else if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete p[key];
  return root;
}

/** Printable ASCII that `fetch` sends as a header value unchanged. */
export function headerText(maxLength = 200, minLength = 1): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength,
    maxLength,
  });
}

/** Printable ASCII of exactly `min`..`max` characters (fast-check keeps strings short otherwise). */
export function longText(min: number, max: number): fc.Arbitrary<string> {
  return fc.integer({ min, max }).chain((n) => headerText(n, n));
}

/** Row count, newest row version and (stock tables) content hash of one table. */
export interface TableState {
  n: number;
  /** Largest `xmin` of a live row: every committed insert or update raises it. */
  x: string;
  /** md5 of the rows in text form, sorted; only for {@link HASHED_TABLES}. */
  h: string | null;
}

/** Every table of the schema (migration bookkeeping aside) at one moment. */
export type Snapshot = Map<string, TableState>;

/** The stock tables, whose content is also compared row by row. */
export const HASHED_TABLES = ['stock_level', 'stock_movement', 'reservation'];

/**
 * Returns a function that snapshots every table of `db` in one statement: its row count and the
 * largest transaction id among its live rows (a committed insert or update of any row raises it,
 * a delete lowers the count), plus an md5 of all rows of the stock tables. The table list is read
 * once, here.
 */
export async function snapshotter(db: Db): Promise<() => Promise<Snapshot>> {
  const tables = await db.withSession((s) =>
    s.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
       ORDER BY 1`,
    ),
  );
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(HASHED_TABLES));
  const text = tables
    .map(({ name }) => {
      const hash = HASHED_TABLES.includes(name)
        ? `md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), ''))`
        : 'NULL::text';
      return `SELECT '${name}' AS t, COUNT(*)::int AS n, COALESCE(MAX(x.xmin::text::bigint), 0)::text AS x, ${hash} AS h FROM "${name}" x`;
    })
    .join('\nUNION ALL\n');
  return async () => {
    const rows = await db.withSession((s) =>
      s.query<{ t: string; n: number; x: string; h: string | null }>(text),
    );
    return new Map(rows.map((r) => [r.t, { n: Number(r.n), x: String(r.x), h: r.h }]));
  };
}

/** Tables whose count or content differ between two snapshots, with their counts. */
export function changedTables(a: Snapshot, b: Snapshot, except: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const [t, x] of a) {
    if (except.includes(t)) continue;
    const y = b.get(t);
    if (!y || y.n !== x.n || y.x !== x.x || y.h !== x.h) out.push(`${t}: ${x.n} -> ${y?.n ?? 'gone'} rows`);
  }
  return out;
}

/** A response as the fuzz suites look at it. */
export interface Reply {
  status: number;
  contentType: string;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked with expect(), not by type
  json: any;
}

export async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, json };
}

/** A 4xx answered in the app's error shape: JSON `{ error, message }`, both saying something. */
export function expectJsonError(r: Reply, what: string): void {
  expect(r.contentType, `${what}: content-type of ${r.status} ${r.text.slice(0, 200)}`).toMatch(
    /^application\/json/,
  );
  expect(typeof r.json?.error, `${what}: error code in ${r.text.slice(0, 200)}`).toBe('string');
  expect(r.json.error.length, what).toBeGreaterThan(0);
  expect(typeof r.json.message, `${what}: message in ${r.text.slice(0, 200)}`).toBe('string');
  expect(r.json.message.trim().length, what).toBeGreaterThan(0);
}
