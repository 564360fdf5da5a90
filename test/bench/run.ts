// `npm run bench`: throughput of the stock ledger on embedded PGlite and on PostgreSQL.
// Prints figures and ratios; asserts nothing. PostgreSQL is used when BENCH_DATABASE_URL
// (a server URL whose database may create others) is reachable; default
// postgres://postgres@127.0.0.1:5432/postgres.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Db, openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { InsufficientStockError } from '../../src/domain/errors.js';
import { createInventory, type Inventory } from '../../src/inventory/index.js';

const PG_SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ORDERS = Number(process.env.BENCH_ORDERS ?? 2000);

interface Figure {
  db: string;
  case: string;
  ops: number;
  seconds: number;
  perSecond: number;
}

async function timed(label: string, db: string, ops: number, fn: () => Promise<void>): Promise<Figure> {
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const f = { db, case: label, ops, seconds, perSecond: ops / seconds };
  console.log(
    `${db.padEnd(9)} ${label.padEnd(44)} ${String(ops).padStart(6)} ops ${seconds.toFixed(2).padStart(7)} s ${f.perSecond.toFixed(0).padStart(7)} /s`,
  );
  return f;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function scenario(name: string, db: Db): Promise<Figure[]> {
  await migrate(db);
  const inv: Inventory = createInventory(db);
  const wh = (await inv.catalog.putWarehouse({ code: 'W1', name: 'main' })).id;
  const wh2 = (await inv.catalog.putWarehouse({ code: 'W2', name: 'overflow' })).id;
  const skus: number[] = [];
  for (let i = 0; i < 200; i++)
    skus.push((await inv.catalog.putSku({ code: `B-${i}`, name: `bench ${i}` })).id);
  const hot = (await inv.catalog.putSku({ code: 'HOT', name: 'hot item' })).id;
  const ids = Array.from({ length: ORDERS }, (_, i) => i);
  const twoLineOrder = (prefix: string, i: number) => ({
    key: `${prefix}-${i}`,
    lines: [
      { lineKey: `${prefix}-${i}:1`, skuId: skus[i % 200]!, quantity: 1 },
      { lineKey: `${prefix}-${i}:2`, skuId: skus[(i * 7) % 200]!, quantity: 2 },
    ],
    warehouseIds: [wh, wh2],
  });
  const out: Figure[] = [];

  out.push(
    await timed('receipts, sequential', name, 1000, async () => {
      for (let i = 0; i < 1000; i++) {
        await inv.ledger.receive({
          key: `rcv-${i}`,
          skuId: skus[i % skus.length]!,
          warehouseId: i % 3 ? wh : wh2,
          quantity: 1000,
        });
      }
    }),
  );
  await inv.ledger.receive({ key: 'rcv-hot', skuId: hot, warehouseId: wh, quantity: ORDERS / 2 });

  out.push(
    await timed('reserve 2-line orders, 1 at a time', name, ORDERS, () =>
      pool(ids, 1, async (i) => {
        await inv.reservations.reserve(twoLineOrder('seq', i));
      }),
    ),
  );
  out.push(
    await timed('reserve 2-line orders, 64 concurrent', name, ORDERS, () =>
      pool(ids, 64, async (i) => {
        await inv.reservations.reserve(twoLineOrder('par', i));
      }),
    ),
  );
  let short = 0;
  out.push(
    await timed('one hot SKU, 64 concurrent (half sell out)', name, ORDERS, () =>
      pool(ids, 64, async (i) => {
        await inv.reservations
          .reserve({
            key: `hot-${i}`,
            lines: [{ lineKey: `hot-${i}:1`, skuId: hot, quantity: 1 }],
            warehouseIds: [wh],
          })
          .catch((e) => {
            if (!(e instanceof InsufficientStockError)) throw e;
            short++;
          });
      }),
    ),
  );
  out.push(
    await timed('consume (ship) lines, 64 concurrent', name, ORDERS, () =>
      pool(ids, 64, async (i) => {
        await inv.reservations.consume({ key: `ship-${i}`, lineKey: `par-${i}:1` });
      }),
    ),
  );
  out.push(
    await timed('replay already-applied reservations', name, ORDERS, () =>
      pool(ids, 64, async (i) => {
        await inv.reservations.reserve(twoLineOrder('par', i));
      }),
    ),
  );
  const t0 = Date.now();
  const report = await inv.verify();
  console.log(
    `${name.padEnd(9)} verify: ${report.ok ? 'ok' : `${report.violations.length} violations`} over ${report.checkedLevels} levels in ${Date.now() - t0} ms; hot SKU oversold: ${ORDERS - short > ORDERS / 2 ? 'YES' : 'no'} (${ORDERS - short} reserved of ${ORDERS / 2})`,
  );
  await inv.idle();
  return out;
}

async function withPg<T>(fn: (url: string) => Promise<T>): Promise<T | null> {
  const admin = new pg.Client({ connectionString: PG_SERVER });
  try {
    await admin.connect();
  } catch (e) {
    console.log(`PostgreSQL not reachable at ${PG_SERVER} (${(e as Error).message}); skipping it`);
    return null;
  }
  const name = `stockd_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  const u = new URL(PG_SERVER);
  u.pathname = `/${name}`;
  try {
    return await fn(u.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

console.log(`stock ledger benchmark: ${ORDERS} orders per case, node ${process.version}\n`);
const lite = await openDatabase('pglite:memory');
const liteFigures = await scenario('pglite', lite).finally(() => lite.close());
const pgFigures = await withPg(async (url) => {
  const db = await openDatabase(url, { poolSize: 10 });
  try {
    return await scenario('postgres', db);
  } finally {
    await db.close();
  }
});

const rate = (fs: Figure[] | null, c: string) =>
  fs?.find((f) => f.case.startsWith(c))?.perSecond ?? Number.NaN;
console.log('\nratios');
for (const [name, fs] of [
  ['pglite', liteFigures],
  ['postgres', pgFigures],
] as const) {
  if (!fs) continue;
  console.log(
    `${name.padEnd(9)} 64-concurrent / sequential reservations: ${(rate(fs, 'reserve 2-line orders, 64') / rate(fs, 'reserve 2-line orders, 1')).toFixed(2)}x; ` +
      `replay / first apply: ${(rate(fs, 'replay') / rate(fs, 'reserve 2-line orders, 64')).toFixed(2)}x`,
  );
}
if (pgFigures) {
  console.log(
    `postgres / pglite, 64-concurrent reservations: ${(rate(pgFigures, 'reserve 2-line orders, 64') / rate(liteFigures, 'reserve 2-line orders, 64')).toFixed(2)}x`,
  );
}
// Reference point: published sync intervals of today's tools are 10-15 minutes (notes/user-pain-points.md).
