// `npm run bench -- reserve`: the reservation microbenchmark, at the service level without HTTP
// (inventory.reservations.reserve). Its workload is fixed so the figures can be compared with
// other inventory systems run on the same machine:
//   - 1,000 SKUs with 1,000 units each in one warehouse;
//   - single-line reservations of 1 unit of a SKU drawn uniformly at random (seeded), first
//     sequentially, then at concurrency 10, for `durationS` seconds each (default 20);
//   - then 500 concurrent 1-unit reservations against one SKU holding 100 units, three times,
//     counting successes, oversell and lost updates.
// Reservations do not change on-hand, so they write reservation rows, not stock movements; the
// lost-update checks compare the successes with stock_level.reserved and the reservation rows,
// and the movements of the raced SKU with its on-hand (nothing may have moved).
import { cpus, loadavg } from 'node:os';
import { InsufficientStockError } from '../../src/domain/errors.js';
import type { Inventory } from '../../src/inventory/index.js';

export interface ReserveBenchOptions {
  /** Seconds per throughput phase. Default 20. */
  durationS: number;
  /** Concurrency of the second throughput phase. Default 10. */
  concurrency: number;
  skus: number;
  unitsPerSku: number;
  race: { requests: number; units: number; rounds: number };
  seed: number;
}

export const defaultReserveOptions: ReserveBenchOptions = {
  durationS: 20,
  concurrency: 10,
  skus: 1000,
  unitsPerSku: 1000,
  race: { requests: 500, units: 100, rounds: 3 },
  seed: 42,
};

export interface PhaseResult {
  name: string;
  concurrency: number;
  reservations: number;
  errors: number;
  seconds: number;
  perSecond: number;
  meanLatencyMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
}

export interface RaceResult {
  round: number;
  requests: number;
  units: number;
  successes: number;
  insufficient: number;
  /** Failures other than InsufficientStockError (message of the first, if any). */
  otherErrors: number;
  firstOtherError: string | null;
  seconds: number;
  onHand: number;
  reserved: number;
  reservationRows: number;
  reservationUnits: number;
  movementUnits: number;
  oversell: boolean;
  lostUpdates: boolean;
}

export interface ReserveBenchResult {
  db: string;
  startedAt: string;
  node: string;
  cpus: { count: number; model: string };
  /** 1-minute load average before and after the throughput phases: others' work on the machine. */
  loadAverage: { before: number; after: number };
  options: ReserveBenchOptions;
  pool: { poolSize: number | null; stockTxConcurrency: number };
  setupSeconds: number;
  phases: PhaseResult[];
  /** After the throughput phases: per-SKU successes vs stock_level.reserved and reservation rows. */
  throughputLedger: { skusChecked: number; mismatches: number; overReserved: number };
  races: RaceResult[];
  verify: { ok: boolean; checkedLevels: number; violations: number; ms: number };
  /** True when verify failed, anything oversold or an update was lost. */
  failed: boolean;
}

/** mulberry32: a small seeded PRNG, so every run draws the same SKUs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function eachConcurrent<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function reserveBench(
  dbName: string,
  inv: Inventory,
  pool: { poolSize: number | null; stockTxConcurrency: number },
  options: ReserveBenchOptions = defaultReserveOptions,
): Promise<ReserveBenchResult> {
  const log = (s: string) => console.log(`${dbName.padEnd(9)} ${s}`);
  const raw = <T>(text: string, values: unknown[] = []) =>
    inv.transaction((tx) => tx.query<T>({ text, values }));
  const t0 = Date.now();
  const wh = (await inv.catalog.putWarehouse({ code: 'RB-W1', name: 'bench warehouse' })).id;
  const skus = Array.from({ length: options.skus }, (_, i) => i);
  const ids: number[] = new Array(options.skus);
  await eachConcurrent(skus, pool.stockTxConcurrency, async (i) => {
    ids[i] = (await inv.catalog.putSku({ code: `RB-${i}`, name: `bench ${i}` })).id;
  });
  await eachConcurrent(skus, pool.stockTxConcurrency, async (i) => {
    await inv.ledger.receive({
      key: `rb-rcv-${i}`,
      skuId: ids[i]!,
      warehouseId: wh,
      quantity: options.unitsPerSku,
    });
  });
  const setupSeconds = (Date.now() - t0) / 1000;
  log(`setup: ${options.skus} SKUs x ${options.unitsPerSku} units in ${setupSeconds.toFixed(1)} s`);

  const successes = new Map<number, number>();
  const random = prng(options.seed);
  let seq = 0;
  const phase = async (name: string, concurrency: number): Promise<PhaseResult> => {
    const latencies: number[] = [];
    let errors = 0;
    let firstError: unknown;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(options.durationS * 1e9));
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (process.hrtime.bigint() < deadline) {
          const n = seq++;
          const skuId = ids[Math.floor(random() * ids.length)]!;
          const t = process.hrtime.bigint();
          try {
            await inv.reservations.reserve({
              key: `rb-${name}-${n}`,
              lines: [{ lineKey: `rb-${name}-${n}:1`, skuId, quantity: 1 }],
              warehouseIds: [wh],
            });
            latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
            successes.set(skuId, (successes.get(skuId) ?? 0) + 1);
          } catch (e) {
            errors++;
            firstError ??= e;
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (firstError) log(`${name}: ${errors} errors, first: ${(firstError as Error).message}`);
    const sorted = [...latencies].sort((a, b) => a - b);
    const r: PhaseResult = {
      name,
      concurrency,
      reservations: latencies.length,
      errors,
      seconds,
      perSecond: latencies.length / seconds,
      meanLatencyMs: latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length),
      p50LatencyMs: quantile(sorted, 0.5),
      p99LatencyMs: quantile(sorted, 0.99),
      maxLatencyMs: sorted.at(-1) ?? Number.NaN,
    };
    log(
      `${name}: ${r.reservations} reservations in ${seconds.toFixed(1)} s = ${r.perSecond.toFixed(0)}/s, mean ${r.meanLatencyMs.toFixed(2)} ms`,
    );
    return r;
  };

  const loadBefore = loadavg()[0]!;
  const phases = [
    await phase('sequential', 1),
    await phase(`concurrent-${options.concurrency}`, options.concurrency),
  ];
  const loadAverage = { before: loadBefore, after: loadavg()[0]! };

  const levels = await raw<{ sku_id: number; on_hand: number; reserved: number; rows: number }>(
    `SELECT l.sku_id, l.on_hand, l.reserved,
            (SELECT COUNT(*)::int FROM reservation r
             WHERE r.sku_id = l.sku_id AND r.warehouse_id = l.warehouse_id AND r.status = 'active') AS rows
     FROM stock_level l WHERE l.sku_id = ANY($1::int[]) AND l.warehouse_id = $2`,
    [ids, wh],
  );
  const mismatched = levels.filter(
    (l) => l.reserved !== (successes.get(l.sku_id) ?? 0) || l.rows !== (successes.get(l.sku_id) ?? 0),
  );
  const throughputLedger = {
    skusChecked: levels.length,
    mismatches: mismatched.length + (options.skus - levels.length),
    overReserved: levels.filter((l) => l.reserved > l.on_hand).length,
  };

  const races: RaceResult[] = [];
  for (let round = 1; round <= options.race.rounds; round++) {
    const skuId = (await inv.catalog.putSku({ code: `RB-RACE-${round}`, name: `race ${round}` })).id;
    await inv.ledger.receive({
      key: `rb-race-rcv-${round}`,
      skuId,
      warehouseId: wh,
      quantity: options.race.units,
    });
    const start = process.hrtime.bigint();
    const settled = await Promise.allSettled(
      Array.from({ length: options.race.requests }, (_, i) =>
        inv.reservations.reserve({
          key: `rb-race-${round}-${i}`,
          lines: [{ lineKey: `rb-race-${round}-${i}:1`, skuId, quantity: 1 }],
          warehouseIds: [wh],
        }),
      ),
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    const short = rejected.filter((s) => s.reason instanceof InsufficientStockError).length;
    const other = rejected.filter((s) => !(s.reason instanceof InsufficientStockError));
    const [state] = await raw<{
      on_hand: number;
      reserved: number;
      rows: number;
      units: number;
      moved: number;
    }>(
      `SELECT l.on_hand, l.reserved,
              (SELECT COUNT(*)::int FROM reservation WHERE sku_id = $1 AND status = 'active') AS rows,
              (SELECT COALESCE(SUM(quantity), 0)::int FROM reservation WHERE sku_id = $1 AND status = 'active') AS units,
              (SELECT COALESCE(SUM(quantity), 0)::int FROM stock_movement WHERE sku_id = $1) AS moved
       FROM stock_level l WHERE l.sku_id = $1 AND l.warehouse_id = $2`,
      [skuId, wh],
    );
    const s = state!;
    const r: RaceResult = {
      round,
      requests: options.race.requests,
      units: options.race.units,
      successes: ok,
      insufficient: short,
      otherErrors: other.length,
      firstOtherError: other[0] ? String((other[0].reason as Error).message) : null,
      seconds,
      onHand: s.on_hand,
      reserved: s.reserved,
      reservationRows: s.rows,
      reservationUnits: s.units,
      movementUnits: s.moved,
      oversell: s.reserved > s.on_hand || ok > options.race.units,
      lostUpdates:
        ok !== s.reserved ||
        ok !== s.rows ||
        ok !== s.units ||
        s.moved !== options.race.units ||
        s.on_hand !== s.moved,
    };
    races.push(r);
    log(
      `race ${round}: ${ok}/${r.requests} succeeded (${short} insufficient, ${other.length} other errors) in ${(seconds * 1000).toFixed(0)} ms; ` +
        `reserved ${s.reserved}/${s.on_hand}; oversell ${r.oversell ? 'YES' : 'no'}; lost updates ${r.lostUpdates ? 'YES' : 'no'}`,
    );
  }

  const tv = Date.now();
  const report = await inv.verify();
  const verify = {
    ok: report.ok,
    checkedLevels: report.checkedLevels,
    violations: report.violations.length,
    ms: Date.now() - tv,
  };
  if (!report.ok) {
    log(`verify: ${report.violations.length} violations`);
    for (const v of report.violations.slice(0, 10)) log(`  ${JSON.stringify(v)}`);
  }
  const failed =
    !report.ok ||
    throughputLedger.mismatches > 0 ||
    throughputLedger.overReserved > 0 ||
    races.some((r) => r.oversell || r.lostUpdates);
  return {
    db: dbName,
    startedAt: new Date(t0).toISOString(),
    node: process.version,
    cpus: { count: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    loadAverage,
    options,
    pool,
    setupSeconds,
    phases,
    throughputLedger,
    races,
    verify,
    failed,
  };
}

/** A table of one or more runs, one column per database. */
export function printReserveTable(results: ReserveBenchResult[]): void {
  const cols = results.map((r) => r.db);
  const row = (label: string, cells: string[]) =>
    console.log(`${label.padEnd(40)}${cells.map((c) => c.padStart(14)).join('')}`);
  console.log('');
  row('reservation microbenchmark', cols);
  row(
    '-'.repeat(40),
    cols.map(() => '-'.repeat(12)),
  );
  for (let i = 0; i < (results[0]?.phases.length ?? 0); i++) {
    const p = results[0]!.phases[i]!;
    const label = p.concurrency === 1 ? 'sequential' : `concurrency ${p.concurrency}`;
    row(
      `${label}: reservations/s`,
      results.map((r) => r.phases[i]!.perSecond.toFixed(0)),
    );
    row(
      `${label}: mean latency ms`,
      results.map((r) => r.phases[i]!.meanLatencyMs.toFixed(2)),
    );
    row(
      `${label}: p99 latency ms`,
      results.map((r) => r.phases[i]!.p99LatencyMs.toFixed(2)),
    );
    row(
      `${label}: reservations (errors)`,
      results.map((r) => `${r.phases[i]!.reservations} (${r.phases[i]!.errors})`),
    );
  }
  row(
    'throughput ledger mismatches',
    results.map((r) => String(r.throughputLedger.mismatches)),
  );
  for (let i = 0; i < (results[0]?.races.length ?? 0); i++) {
    const x = results[0]!.races[i]!;
    row(
      `race ${x.round}: ${x.requests} x 1 vs ${x.units}: successes`,
      results.map((r) => String(r.races[i]!.successes)),
    );
    row(
      `race ${x.round}: oversell / lost updates`,
      results.map((r) => {
        const y = r.races[i]!;
        return `${y.oversell ? 'YES' : 'no'} / ${y.lostUpdates ? 'YES' : 'no'}`;
      }),
    );
    row(
      `race ${x.round}: other errors`,
      results.map((r) => String(r.races[i]!.otherErrors)),
    );
  }
  row(
    'verify',
    results.map((r) => (r.verify.ok ? 'ok' : `${r.verify.violations} violations`)),
  );
  row(
    'result',
    results.map((r) => (r.failed ? 'FAILED' : 'ok')),
  );
}
