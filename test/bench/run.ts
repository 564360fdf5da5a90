// `npm run bench [-- CASE] [--db postgres|pglite] [--duration SECONDS]`.
//   (no case)  throughput of the stock ledger: receipts, 2-line reservations, a hot SKU, shipping,
//              replays. Prints figures and ratios; asserts nothing.
//   reserve    the reservation microbenchmark (see reserve.ts): prints a table, writes
//              bench-results/reserve-<db>.json, exits 1 when the ledger is violated.
// `--db` picks one database (default: both). PostgreSQL is used when BENCH_DATABASE_URL (a server
// URL whose database may create others) is reachable; default
// postgres://postgres@127.0.0.1:5432/postgres. Each run gets a fresh database.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type Db, openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { InsufficientStockError } from '../../src/domain/errors.js';
import { createInventory, type Inventory } from '../../src/inventory/index.js';
import {
  defaultReserveOptions,
  printReserveTable,
  type ReserveBenchResult,
  reserveBench,
} from './reserve.js';

const PG_SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ORDERS = Number(process.env.BENCH_ORDERS ?? 2000);
/** The daemon's default `database.poolSize` (config/default.json); it runs that many stock transactions at once. */
const POOL_SIZE = 10;

// `npm run bench -- peak [options]`: the 双11 profile against the daemon as a process, with its
// own options (see peak/run-peak.ts); not part of the default run (it takes about 13 minutes per database).
if (process.argv[2] === 'peak') {
  const { runPeak } = await import('./peak/run-peak.js');
  process.exit(await runPeak(process.argv.slice(3)));
}

const args = parseArgs({
  allowPositionals: true,
  options: {
    db: { type: 'string', multiple: true },
    duration: { type: 'string' },
  },
});
const CASES = ['ledger', 'reserve'] as const;
const benchCase = args.positionals[0] ?? 'ledger';
if (args.positionals.length > 1 || !(CASES as readonly string[]).includes(benchCase)) {
  console.error(`usage: npm run bench -- [${CASES.join('|')}] [--db postgres|pglite] [--duration SECONDS]`);
  process.exit(2);
}
const dbs = args.values.db ?? ['pglite', 'postgres'];
if (dbs.some((d) => d !== 'pglite' && d !== 'postgres')) {
  console.error(`--db must be postgres or pglite; got ${dbs.join(', ')}`);
  process.exit(2);
}
const durationS =
  args.values.duration === undefined ? defaultReserveOptions.durationS : Number(args.values.duration);
if (!(durationS > 0)) {
  console.error(`--duration must be a positive number of seconds; got ${args.values.duration}`);
  process.exit(2);
}
/** PostgreSQL was asked for by name: not reaching it fails the run instead of skipping it. */
const pgRequired = args.values.db?.includes('postgres') ?? false;

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
    const msg = `PostgreSQL not reachable at ${PG_SERVER} (${(e as Error).message})`;
    if (pgRequired) throw new Error(msg);
    console.log(`${msg}; skipping it`);
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

/** Opens a fresh, migrated database of one kind, runs `fn`, closes and removes it. */
async function onDatabase<T>(kind: string, fn: (db: Db) => Promise<T>): Promise<T | null> {
  if (kind === 'pglite') {
    // On disk, as the daemon runs it by default (data/pglite), in a throwaway directory.
    const dir = mkdtempSync(join(tmpdir(), 'stockd-bench-'));
    const db = await openDatabase(`pglite:${dir}`);
    try {
      await migrate(db);
      return await fn(db);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return withPg(async (url) => {
    const db = await openDatabase(url, { poolSize: POOL_SIZE });
    try {
      await migrate(db);
      return await fn(db);
    } finally {
      await db.close();
    }
  });
}

async function ledgerCase(): Promise<void> {
  console.log(`stock ledger benchmark: ${ORDERS} orders per case, node ${process.version}\n`);
  const figures = new Map<string, Figure[] | null>();
  for (const kind of dbs) {
    figures.set(
      kind,
      kind === 'pglite'
        ? await (async () => {
            const lite = await openDatabase('pglite:memory');
            return scenario('pglite', lite).finally(() => lite.close());
          })()
        : await withPg(async (url) => {
            const db = await openDatabase(url, { poolSize: POOL_SIZE });
            try {
              return await scenario('postgres', db);
            } finally {
              await db.close();
            }
          }),
    );
  }

  const rate = (fs: Figure[] | null | undefined, c: string) =>
    fs?.find((f) => f.case.startsWith(c))?.perSecond ?? Number.NaN;
  console.log('\nratios');
  for (const [name, fs] of figures) {
    if (!fs) continue;
    console.log(
      `${name.padEnd(9)} 64-concurrent / sequential reservations: ${(rate(fs, 'reserve 2-line orders, 64') / rate(fs, 'reserve 2-line orders, 1')).toFixed(2)}x; ` +
        `replay / first apply: ${(rate(fs, 'replay') / rate(fs, 'reserve 2-line orders, 64')).toFixed(2)}x`,
    );
  }
  const pgFigures = figures.get('postgres');
  const liteFigures = figures.get('pglite');
  if (pgFigures && liteFigures) {
    console.log(
      `postgres / pglite, 64-concurrent reservations: ${(rate(pgFigures, 'reserve 2-line orders, 64') / rate(liteFigures, 'reserve 2-line orders, 64')).toFixed(2)}x`,
    );
  }
  // Reference point: published sync intervals of today's tools are 10-15 minutes (notes/user-pain-points.md).
}

async function reserveCase(): Promise<void> {
  const options = { ...defaultReserveOptions, durationS };
  console.log(
    `reservation microbenchmark: ${options.skus} SKUs x ${options.unitsPerSku} units; ` +
      `${options.durationS} s sequential, ${options.durationS} s at concurrency ${options.concurrency}; ` +
      `${options.race.rounds} races of ${options.race.requests} x 1 unit vs ${options.race.units}; node ${process.version}\n`,
  );
  const results: ReserveBenchResult[] = [];
  mkdirSync('bench-results', { recursive: true });
  for (const kind of dbs) {
    const r = await onDatabase(kind, async (db) => {
      // As the daemon wires it: stock transactions at once = pool size on PostgreSQL, 1 on PGlite.
      const concurrency = db.kind === 'postgres' ? POOL_SIZE : 1;
      const inv = createInventory(db, { concurrency });
      try {
        return await reserveBench(
          kind,
          inv,
          { poolSize: db.kind === 'postgres' ? POOL_SIZE : null, stockTxConcurrency: concurrency },
          options,
        );
      } finally {
        await inv.idle();
      }
    });
    if (!r) continue;
    const file = join('bench-results', `reserve-${kind}.json`);
    writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
    console.log(`${kind.padEnd(9)} wrote ${file}\n`);
    results.push(r);
  }
  if (results.length > 0) printReserveTable(results);
  if (results.some((r) => r.failed)) {
    console.error('\nFAILED: the ledger was violated (see above)');
    process.exitCode = 1;
  }
}

if (benchCase === 'reserve') await reserveCase();
else await ledgerCase();
