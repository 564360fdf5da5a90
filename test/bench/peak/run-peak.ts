/**
 * `npm run bench -- peak [--db postgres|pglite] [--rate N] [--duration S] [options]`: the 双11
 * profile against the whole daemon, as a separate process, over real HTTP.
 *
 * Per database, three runs, each on a fresh database with three sandbox shops (Shopify, Taobao,
 * Douyin) in this process, ~200 listings each, the catalog seeded (catalog.ts), the daemon started
 * with a config file pointing at the shops, the load profile (profile.ts) driven through the shops
 * (driver.ts) and the numbers read back from the database (metrics.ts):
 *   - `mixed`: orders on all three platforms (the 双11 mix), propagation tracers, oversell;
 *   - `buffer`: the same with the adaptive oversell buffer on, shorter: oversell again;
 *   - `shopify-only`: every order on Shopify, whose webhooks carry the whole order, so the intake
 *     is not held up by re-reading orders through the Taobao and Douyin API gates: the daemon's
 *     own intake path; then the raw-SQL baseline (baseline.ts) on a scratch database, replaying
 *     this run's orders.
 * Prints a table, writes bench-results/peak-<db>.json (plus each run's daemon config and log),
 * exits 1 when the ledger invariants were violated after any run.
 *
 * Options:
 *   --db postgres|pglite     repeatable; default both (PostgreSQL at BENCH_DATABASE_URL, default
 *                            postgres://postgres@127.0.0.1:5432/postgres)
 *   --rate N                 peak orders/s; default 1000 on PostgreSQL, 300 on PGlite (the targets)
 *   --duration S             sustained window of the mixed run, seconds; default 60
 *   --buffer-duration S      ... of the buffer run; default 20; 0 skips it
 *   --direct-duration S      ... of the Shopify-only run; default 30; 0 skips it (the baseline then
 *                            replays the mixed run's orders)
 *   --ramp S, --normal S     ramp and quiet lead-in, seconds; default 20 and 10
 *   --runs a,b               which of mixed, buffer, shopify-only; default all
 *   --baseline-seconds S     raw-SQL baseline; default 15; 0 skips it
 *   --max-drain S            after the profile, wait at most this long for the inbox and the push
 *                            outbox to empty; default 60
 *   --mix shopify=1,taobao=1,douyin=1   share of orders per platform in the mixed and buffer runs
 *   --max-in-flight N        webhook POSTs in flight at most (the platforms' dispatcher); default 256
 *   --single-line            every buyer order one line (the profile of sessions 1-11); default 1-5
 *                            lines (catalog.ts MIX.lines)
 *   --log-level L            the daemon's log level (its log goes to bench-results/); default info
 *   --pull-cron EXPR         the daemon's sync.pullCron; default the daemon's own (every 30 s)
 *   --douyin-rps N           the Douyin shop's request quota (`shops[].rateLimit`); default the
 *                            connector's (10/s)
 *   --cpu-prof               V8 CPU profiles of the daemon in bench-results/prof-<db>-<run>/ (see
 *                            cpuprofile.ts to summarise them)
 *   --seed N                 default 1
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openDatabase } from '../../../src/db/client.js';
import { migrate } from '../../../src/db/migrate.js';
import { freePort } from '../../support/e2e.js';
import { type BaselineResult, copyCatalog, loadTemplates, runBaseline } from './baseline.js';
import { type CatalogPlan, planCatalog, seedCatalog, WAREHOUSE } from './catalog.js';
import { buildDaemon, ProcessSetTally, startDaemonProcess } from './daemon-process.js';
import { type Backlog, type DriveResult, drive, type TracerSample } from './driver.js';
import { analyseRun, percentiles, type RunMetrics, type TableWrites, tableWrites } from './metrics.js';
import { type Profile, profileSeconds } from './profile.js';
import { type BenchPlatform, type BenchShop, PLATFORMS, startShop } from './shops.js';

const PG_SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const POOL_SIZE = 10;
/** Issue 6's targets: peak orders/s (about 3 lines each) per database. */
const TARGET_RATE = { postgres: 1000, pglite: 300 } as const;
const TARGET_BASELINE_RATIO = 0.4;
/**
 * The Taobao shop's request quota (`shops[].rateLimit`), an assumption: a Taobao pull reads each
 * listed trade with `trade.fullinfo.get` (1 + 100 requests a page), so at the connector's
 * default 10 requests/s its intake would stop near 10 orders/s, while a large seller's app at a
 * sale draws on a quota set per app and far higher [U]. Douyin and Shopify keep their defaults
 * (Douyin's list carries whole orders; Shopify's webhooks do).
 */
const TAOBAO_QUOTA_RPS = 400;
/**
 * `sync.changeReadBackForMs`: a daemon at a sale has been running for days, and its listings'
 * first pushes (the only absolute writes on Douyin, read back for 15 min after) are long past.
 * The bench starts it fresh with no order backlog, so it lets that period end after 20 s.
 */
const CHANGE_READ_BACK_FOR_MS = 20_000;
const SHOP_IDS: Record<BenchPlatform, string> = {
  shopify: 'shopify-main',
  taobao: 'tmall-main',
  douyin: 'douyin-main',
};
/** Products (or items) of 3 variants per sandbox: 201 regular listings each. */
const PRODUCTS = 67;

type DbKind = 'postgres' | 'pglite';

interface Options {
  dbs: DbKind[];
  rate: number | undefined;
  duration: number;
  ramp: number;
  normal: number;
  bufferDuration: number;
  directDuration: number;
  baselineSeconds: number;
  maxDrain: number;
  runs: Variant['name'][];
  weights: Record<BenchPlatform, number>;
  maxInFlight: number;
  singleLine: boolean;
  logLevel: string;
  pullCron: string | undefined;
  douyinRps: number | undefined;
  cpuProf: boolean;
  seed: number;
}

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      db: { type: 'string', multiple: true },
      rate: { type: 'string' },
      duration: { type: 'string' },
      ramp: { type: 'string' },
      normal: { type: 'string' },
      'buffer-duration': { type: 'string' },
      'direct-duration': { type: 'string' },
      'max-drain': { type: 'string' },
      runs: { type: 'string' },
      'baseline-seconds': { type: 'string' },
      mix: { type: 'string' },
      'max-in-flight': { type: 'string' },
      'log-level': { type: 'string' },
      'pull-cron': { type: 'string' },
      'douyin-rps': { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      'single-line': { type: 'boolean' },
      seed: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  const number = (name: string, v: string | undefined, fallback: number, min = 0) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}; got ${v}`);
    return n;
  };
  const dbs = (values.db ?? ['pglite', 'postgres']) as DbKind[];
  if (dbs.some((d) => d !== 'postgres' && d !== 'pglite')) throw new Error(`--db must be postgres or pglite`);
  const weights: Record<BenchPlatform, number> = { shopify: 1, taobao: 1, douyin: 1 };
  if (values.mix) {
    for (const p of PLATFORMS) weights[p] = 0;
    for (const part of values.mix.split(',')) {
      const [k, v] = part.split('=');
      if (!(PLATFORMS as readonly string[]).includes(k ?? ''))
        throw new Error(`--mix: unknown platform ${k}`);
      weights[k as BenchPlatform] = number('mix', v, 1);
    }
    if (PLATFORMS.every((p) => weights[p] === 0)) throw new Error('--mix: every weight is 0');
  }
  return {
    dbs,
    rate: values.rate === undefined ? undefined : number('rate', values.rate, 0, 1),
    duration: number('duration', values.duration, 60, 1),
    ramp: number('ramp', values.ramp, 20, 1),
    normal: number('normal', values.normal, 10, 0),
    bufferDuration: number('buffer-duration', values['buffer-duration'], 20),
    directDuration: number('direct-duration', values['direct-duration'], 30),
    maxDrain: number('max-drain', values['max-drain'], 60, 1),
    runs: parseRuns(values.runs),
    baselineSeconds: number('baseline-seconds', values['baseline-seconds'], 15),
    weights,
    maxInFlight: number('max-in-flight', values['max-in-flight'], 256, 1),
    singleLine: values['single-line'] ?? false,
    logLevel: values['log-level'] ?? 'info',
    pullCron: values['pull-cron'],
    douyinRps:
      values['douyin-rps'] === undefined ? undefined : number('douyin-rps', values['douyin-rps'], 10, 1),
    cpuProf: values['cpu-prof'] ?? false,
    seed: number('seed', values.seed, 1, 1),
  };
}

const RUNS: readonly Variant['name'][] = ['mixed', 'buffer', 'shopify-only'];

function parseRuns(v: string | undefined): Variant['name'][] {
  if (v === undefined) return [...RUNS];
  const names = v.split(',').map((x) => x.trim());
  for (const n of names)
    if (!(RUNS as readonly string[]).includes(n)) throw new Error(`--runs: unknown run ${n}`);
  return names as Variant['name'][];
}

// -- databases ----------------------------------------------------------------------------------

interface BenchDb {
  kind: DbKind;
  url: string;
  drop(): Promise<void>;
}

async function createDb(kind: DbKind, prefix: string): Promise<BenchDb> {
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    return { kind, url: `pglite:${dir}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_SERVER });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(PG_SERVER);
  u.pathname = `/${name}`;
  return {
    kind,
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: PG_SERVER });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

// -- one run --------------------------------------------------------------------------------------

/**
 * One run of the profile. `mixed`: orders on all three platforms (the 双11 mix); `buffer`: the
 * same with the adaptive oversell buffer on, shorter; `shopify-only`: every order on Shopify,
 * whose webhooks carry the full order, so the intake is not held up by re-fetching orders
 * through the Taobao and Douyin shops' API gates (10 calls/s each): the daemon's own intake path.
 */
interface Variant {
  name: 'mixed' | 'buffer' | 'shopify-only';
  buffer: 'off' | 'adaptive';
  weights: Record<BenchPlatform, number>;
  sustained: number;
  tracers: boolean;
  baseline: boolean;
}

interface RunOutcome {
  name: Variant['name'];
  buffer: 'off' | 'adaptive';
  weights: Record<BenchPlatform, number>;
  profile: Profile;
  warmupSeconds: number;
  daemonExitCode: number | null;
  drive: Omit<DriveResult, 'orders' | 'ack' | 'tracers' | 'series'> & {
    ackMs: ReturnType<typeof percentiles>;
    ackMsByPlatform: Record<string, ReturnType<typeof percentiles>>;
    ackQueueMs: ReturnType<typeof percentiles>;
    /** Tracer orders placed in the sustained window (the peak), per destination platform. */
    propagationMs: Record<string, ReturnType<typeof percentiles> & { timeouts: number }>;
    /** ... placed at the normal rate before the ramp (a steady quiet load). */
    propagationNormalMs: Record<string, ReturnType<typeof percentiles> & { timeouts: number }>;
    series: DriveResult['series'];
  };
  /** CPU seconds of the PostgreSQL backends serving the run's database, in the sustained window. */
  postgresCpuSecondsWindow: number | null;
  /** Seconds those backends waited for a CPU in the window (summed over backends). */
  postgresRunQueueSecondsWindow: number | null;
  /**
   * The daemon's PostgreSQL sessions in the sustained window, by state and wait event: the mean
   * number of sessions in each, sampled once a second (`idle`: the pool had nothing to run;
   * `idle in transaction`: the database waits for the daemon; `active / Lock:...`: row locks).
   */
  postgresSessions: Record<string, number> | null;
  metrics: RunMetrics;
  baseline?: BaselineResult;
}

const ADAPTIVE_BUFFER = { mode: 'adaptive', windowMinutes: 1, minLatencyMs: 2000, maxUnits: 50 } as const;

async function runOnce(kind: DbKind, o: Options, variant: Variant, main: string): Promise<RunOutcome> {
  const rate = o.rate ?? TARGET_RATE[kind];
  const profile: Profile = {
    peak: rate,
    normalSeconds: o.normal,
    rampSeconds: o.ramp,
    sustainedSeconds: variant.sustained,
  };
  const label = `[${kind} ${variant.name}]`;
  const db = await createDb(kind, 'bench');
  const port = await freePort();
  const shops: BenchShop[] = [];
  try {
    for (const [i, platform] of PLATFORMS.entries()) {
      const id = SHOP_IDS[platform];
      shops.push(
        await startShop({
          id,
          platform,
          seed: o.seed + i,
          webhookUrl: `http://127.0.0.1:${port}/webhooks/${platform}/${id}`,
          products: PRODUCTS,
        }),
      );
    }
    const plan = planCatalog(profile, shops, o.singleLine);
    process.stderr.write(
      `${label} seeding ${plan.skus.length} SKUs, ${shops.reduce((n, s) => n + s.listings.length, 0)} listings\n`,
    );
    let writesBefore: TableWrites | null = null;
    let commitsBefore: number | null = null;
    {
      const seedDb = await openDatabase(db.url, { poolSize: 2 });
      try {
        await seedCatalog(seedDb, plan, shops);
      } finally {
        await seedDb.close();
      }
      if (kind === 'postgres') {
        const statDb = await openDatabase(db.url, { poolSize: 1 });
        try {
          await new Promise((r) => setTimeout(r, 1000));
          writesBefore = await statDb.withSession((s) => tableWrites(s));
          const [c] = await statDb.withSession((s) =>
            s.query<{ commits: number }>(
              `SELECT xact_commit::float8 AS commits FROM pg_stat_database WHERE datname = current_database()`,
            ),
          );
          commitsBefore = c?.commits ?? null;
        } finally {
          await statDb.close();
        }
      }
    }
    const results = resolve('bench-results');
    const config = {
      $comment: `written by test/bench/peak (${label})`,
      server: { host: '127.0.0.1', port },
      database: { url: db.url, poolSize: POOL_SIZE },
      log: { level: o.logLevel },
      sync: { ...(o.pullCron ? { pullCron: o.pullCron } : {}), changeReadBackForMs: CHANGE_READ_BACK_FOR_MS },
      shops: shops.map((s) => ({
        id: s.id,
        platform: s.platform,
        warehouses: [WAREHOUSE],
        reserveOn: 'paid',
        restockOn: 'receipt',
        matchOuterId: false,
        connector: s.connector,
        ...(s.platform === 'taobao' ? { rateLimit: { requestsPerSecond: TAOBAO_QUOTA_RPS } } : {}),
        ...(s.platform === 'douyin' && o.douyinRps ? { rateLimit: { requestsPerSecond: o.douyinRps } } : {}),
        push: variant.buffer === 'adaptive' ? { buffer: ADAPTIVE_BUFFER } : {},
      })),
    };
    const profDir = o.cpuProf ? join(results, `prof-${kind}-${variant.name}`) : undefined;
    if (profDir) mkdirSync(profDir, { recursive: true });
    const daemon = await startDaemonProcess({
      config,
      configFile: join(results, `peak-${kind}-${variant.name}-config.json`),
      logFile: join(results, `peak-${kind}-${variant.name}-daemon.log`),
      port,
      main,
      ...(profDir ? { cpuProfDir: profDir } : {}),
    });
    let exitCode: number | null = null;
    let driveResult: DriveResult;
    let pgCpu: number | null = null;
    let pgWait: number | null = null;
    /** The run's PostgreSQL backends, sampled each second over the sustained window. */
    const backends = new ProcessSetTally();
    const waits: Record<string, number> = {};
    let waitSamples = 0;
    let backlogClient: pg.Client | undefined;
    try {
      const warmStart = Date.now();
      await warmUp(shops, plan, label);
      const warmupSeconds = (Date.now() - warmStart) / 1000;
      process.stderr.write(
        `${label} every listing shows its opening stock after ${warmupSeconds.toFixed(1)} s; driving\n`,
      );
      let backlog: () => Promise<Backlog | null>;
      let sampling = false;
      if (kind === 'postgres') {
        const client = new pg.Client({ connectionString: db.url, statement_timeout: 5000 });
        await client.connect();
        backlogClient = client;
        backlog = async () => {
          try {
            const { rows } = await client.query<{ p: number; d: number; s: number }>(
              `SELECT (SELECT count(*) FROM inbox_event WHERE status = 'pending')::int AS p,
                      (SELECT count(*) FROM inbox_event WHERE status = 'done')::int AS d,
                      (SELECT count(*) FROM stock_push WHERE status = 'pending')::int AS s`,
            );
            if (sampling) {
              const sessions = await client.query<{ k: string; n: number; pids: number[] }>(
                `SELECT state || CASE WHEN wait_event IS NULL THEN '' ELSE ' / ' || wait_event_type || ':' || wait_event END AS k,
                        count(*)::int AS n, array_agg(pid) AS pids
                 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1`,
              );
              waitSamples++;
              for (const r of sessions.rows) waits[r.k] = (waits[r.k] ?? 0) + r.n;
              backends.sample(sessions.rows.flatMap((r) => r.pids));
            }
            return { inboxPending: rows[0]!.p, inboxDone: rows[0]!.d, pushPending: rows[0]!.s };
          } catch {
            return null;
          }
        };
      } else {
        backlog = async () => {
          try {
            const r = await fetch(`${daemon.url}/api/status`, { signal: AbortSignal.timeout(5000) });
            if (!r.ok) return null;
            const s = (await r.json()) as {
              inbox: { pending: number; done: number };
              shops: { push: { pending: number } }[];
            };
            return {
              inboxPending: s.inbox.pending,
              inboxDone: s.inbox.done,
              pushPending: s.shops.reduce((n, x) => n + x.push.pending, 0),
            };
          } catch {
            return null;
          }
        };
      }
      const onWindow = async (edge: 'start' | 'end') => {
        if (!backlogClient) return;
        sampling = edge === 'start';
        const { rows } = await backlogClient.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        const pids = rows.map((r) => r.pid);
        if (edge === 'start') backends.start(pids);
        else {
          backends.sample(pids);
          pgCpu = backends.cpu;
          pgWait = backends.wait;
        }
      };
      driveResult = await drive(shops, plan, {
        profile,
        weights: variant.weights,
        tracers: variant.tracers,
        singleLine: o.singleLine,
        maxInFlight: o.maxInFlight,
        seed: o.seed,
        daemonPid: daemon.pid,
        backlog,
        // The pull finds the last pull-only orders at its next tick (default every 30 s).
        minDrainMs: 35_000,
        maxDrainMs: o.maxDrain * 1000,
        onWindow,
        label,
      });
      exitCode = await daemon.stop();
      const metrics = await (async () => {
        const after = await openDatabase(db.url, { poolSize: 2 });
        try {
          const m = await analyseRun({
            db: after,
            plan,
            shops,
            drive: driveResult,
            writesBefore,
            commitsBefore,
          });
          let baseline: BaselineResult | undefined;
          if (variant.baseline && o.baselineSeconds > 0)
            baseline = await baselineOn(kind, after, o.baselineSeconds, label);
          return { m, baseline };
        } finally {
          await after.close();
        }
      })();
      const propagationOf = (phase: TracerSample['phase']) => {
        const out: RunOutcome['drive']['propagationMs'] = {};
        for (const p of PLATFORMS) {
          const samples = driveResult.tracers.filter((t) => t.destination === p && t.phase === phase);
          if (samples.length === 0) continue;
          out[p] = {
            ...percentiles(samples.filter((t) => t.ms !== null).map((t) => t.ms!)),
            timeouts: samples.filter((t) => t.ms === null).length,
          };
        }
        return out;
      };
      const { orders: _o, ack, tracers: _t, series, ...rest } = driveResult;
      return {
        name: variant.name,
        buffer: variant.buffer,
        weights: variant.weights,
        profile,
        warmupSeconds,
        daemonExitCode: exitCode,
        drive: {
          ...rest,
          ackMs: percentiles(ack.ms),
          ackMsByPlatform: Object.fromEntries(
            Object.entries(ack.byPlatform).map(([k, v]) => [k, percentiles(v)]),
          ),
          ackQueueMs: percentiles(ack.queueMs),
          propagationMs: propagationOf('peak'),
          propagationNormalMs: propagationOf('normal'),
          series,
        },
        postgresCpuSecondsWindow: pgCpu,
        postgresRunQueueSecondsWindow: pgWait,
        postgresSessions:
          waitSamples === 0
            ? null
            : Object.fromEntries(
                Object.entries(waits)
                  .sort((a, b) => b[1] - a[1])
                  .map(([k, n]) => [k, Math.round((n / waitSamples) * 10) / 10]),
              ),
        metrics: metrics.m,
        ...(metrics.baseline ? { baseline: metrics.baseline } : {}),
      };
    } finally {
      await backlogClient?.end().catch(() => {});
      if (exitCode === null) await daemon.stop();
    }
  } finally {
    for (const s of shops) await s.stop().catch(() => {});
    await db
      .drop()
      .catch((e: unknown) => process.stderr.write(`${label} could not drop the database: ${e}\n`));
  }
}

/** Waits until every listing on every platform shows its opening quantity (the first pushes). */
async function warmUp(shops: readonly BenchShop[], plan: CatalogPlan, label: string): Promise<void> {
  const deadline = Date.now() + 240_000;
  let last = 0;
  for (;;) {
    let waiting = 0;
    for (const s of shops)
      for (const [i, l] of s.listings.entries())
        if (s.quantity(l.stockRef) !== plan.openingListed(plan.skuOf(s, i))) waiting++;
    if (waiting === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${label} ${waiting} listings still without their opening stock`);
    if (Date.now() - last > 5000) {
      process.stderr.write(`${label} warm-up: ${waiting} listings still waiting for their first push\n`);
      last = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function baselineOn(
  kind: DbKind,
  run: Awaited<ReturnType<typeof openDatabase>>,
  seconds: number,
  label: string,
): Promise<BaselineResult> {
  const templates = await loadTemplates(run);
  const scratchDb = await createDb(kind, 'bench_baseline');
  try {
    const scratch = await openDatabase(scratchDb.url, { poolSize: 2 });
    try {
      await migrate(scratch);
      await copyCatalog(run, scratch);
    } finally {
      await scratch.close();
    }
    process.stderr.write(`${label} raw-SQL baseline: ${templates.length} orders to replay, ${seconds} s\n`);
    return await runBaseline(scratchDb.url, templates, seconds, kind === 'postgres' ? POOL_SIZE : 1);
  } finally {
    await scratchDb.drop();
  }
}

// -- report ---------------------------------------------------------------------------------------

interface DbReport {
  db: DbKind;
  startedAt: string;
  node: string;
  machine: { cpus: number; model: string };
  loadAverage: { before: number; after: number };
  options: Omit<Options, 'dbs'>;
  targets: { ordersPerS: number; linesPerS: number; baselineRatio: number };
  runs: RunOutcome[];
  /**
   * Oversell exposure of the mixed and buffer runs compared at the same moment: units the
   * platforms had sold beyond the scarce SKUs' stock by `horizonS` seconds into the sustained
   * window (the shorter of the two windows), each run's scarce SKUs planned to sell out 5 s in.
   */
  oversellAtHorizon: { horizonS: number; bufferOff: number | null; bufferAdaptive: number | null } | null;
  verdict: {
    /** The mixed profile's intake reached 95% of the target (null: no mixed run). */
    intakeTargetMet: boolean | null;
    /** The Shopify-only intake (orders with stock reserved) over the baseline's orders/s. */
    baselineRatio: number | null;
    baselineTargetMet: boolean | null;
    /** Every run drained: inbox and push outbox empty before the deadline. */
    drained: boolean;
    ledgerOk: boolean;
  };
}

function summarise(
  kind: DbKind,
  o: Options,
  runs: RunOutcome[],
  load: { before: number; after: number },
  startedAt: Date,
): DbReport {
  const main = runs.find((r) => r.name === 'mixed');
  const withBaseline = runs.find((r) => r.baseline);
  const target = TARGET_RATE[kind];
  const ratio = withBaseline?.baseline
    ? withBaseline.metrics.intake.ordersReservedPerS / withBaseline.baseline.ordersPerS
    : null;
  const { dbs: _d, ...options } = o;
  const off = runs.find((r) => r.name === 'mixed');
  const adaptive = runs.find((r) => r.name === 'buffer');
  const horizonS = Math.min(
    ...[off, adaptive].filter((r) => r !== undefined).map((r) => r.profile.sustainedSeconds),
  );
  return {
    db: kind,
    startedAt: startedAt.toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    loadAverage: load,
    options,
    targets: { ordersPerS: target, linesPerS: target * 3, baselineRatio: TARGET_BASELINE_RATIO },
    runs,
    oversellAtHorizon:
      off || adaptive
        ? {
            horizonS,
            bufferOff: off ? beyondStockBy(off, horizonS) : null,
            bufferAdaptive: adaptive ? beyondStockBy(adaptive, horizonS) : null,
          }
        : null,
    verdict: {
      intakeTargetMet: main ? main.metrics.intake.ordersAppliedPerS >= 0.95 * target : null,
      baselineRatio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
      baselineTargetMet: ratio === null ? null : ratio >= TARGET_BASELINE_RATIO,
      drained: runs.every((r) => r.drive.drained),
      ledgerOk: runs.every((r) => r.metrics.verify.ok),
    },
  };
}

/** Units sold beyond the scarce SKUs' opening stock by `horizonS` into the sustained window. */
function beyondStockBy(run: RunOutcome, horizonS: number): number {
  const until = run.drive.window.start + horizonS * 1000;
  const sold = new Map<string, number>();
  for (const e of run.drive.scarceSales) if (e.at < until) sold.set(e.sku, (sold.get(e.sku) ?? 0) + e.units);
  let beyond = 0;
  for (const [sku, s] of Object.entries(run.metrics.oversell.byScarceSku))
    beyond += Math.max(0, (sold.get(sku) ?? 0) - s.opening);
  return beyond;
}

type Row = [string, (r: DbReport) => string];

function printTable(reports: DbReport[]): void {
  const f = (v: number | null | undefined, d = 0) => (v === null || v === undefined ? '-' : v.toFixed(d));
  const pp = (p: { p50: number | null; p99: number | null } | undefined) =>
    p?.p50 != null ? `${f(p.p50)} / ${f(p.p99)}` : '-';
  const run = (r: DbReport, name: Variant['name']) => r.runs.find((x) => x.name === name);
  const on = (name: Variant['name'], fn: (x: RunOutcome) => string) => (r: DbReport) => {
    const x = run(r, name);
    return x ? fn(x) : '-';
  };
  const pct = (seconds: number | null, x: RunOutcome) =>
    seconds === null ? '-' : `${((seconds / x.metrics.windowSeconds) * 100).toFixed(0)}%`;
  const intakeRows = (name: Variant['name'], title: string): Row[] => [
    [title, on(name, (x) => `peak ${x.profile.peak}/s for ${x.profile.sustainedSeconds} s`)],
    ['  orders placed on the platforms, /s', on(name, (x) => f(x.metrics.intake.ordersPlacedPerS, 1))],
    [
      '  lines per buyer order placed',
      on(name, (x) => f(x.drive.counts.sellLines / Math.max(1, x.drive.counts.sells), 2)),
    ],
    ['  orders applied, /s', on(name, (x) => f(x.metrics.intake.ordersAppliedPerS, 1))],
    ['  orders with stock reserved, /s', on(name, (x) => f(x.metrics.intake.ordersReservedPerS, 1))],
    ['  lines reserved, /s', on(name, (x) => f(x.metrics.intake.linesReservedPerS, 1))],
    ['  webhook ack p50 / p99, ms', on(name, (x) => pp(x.drive.ackMs))],
    [
      '  webhooks failed (no 2xx in 5 s) / left queued',
      on(
        name,
        (x) =>
          `${x.drive.counts.deliveryFailures} / ${x.drive.counts.undelivered} of ${x.drive.counts.deliveries + x.drive.counts.undelivered}`,
      ),
    ],
    ['  intake to reserved p50 / p99, ms', on(name, (x) => pp(x.metrics.intakeToReservedMs))],
    ['  placed to applied, webhook p50 / p99, ms', on(name, (x) => pp(x.metrics.placedToAppliedMs.webhook))],
    ['  placed to applied, pull only p50 / p99, ms', on(name, (x) => pp(x.metrics.placedToAppliedMs.pull))],
    ['  daemon CPU, % of one core', on(name, (x) => pct(x.drive.daemon.cpuSecondsWindow, x))],
    [
      '  daemon event loop waiting for a CPU, % of the window',
      on(name, (x) => pct(x.drive.daemon.runQueueSecondsWindow, x)),
    ],
    ['  PostgreSQL backends CPU, % of one core', on(name, (x) => pct(x.postgresCpuSecondsWindow, x))],
    [
      '  PostgreSQL backends waiting for a CPU, % of one core',
      on(name, (x) => pct(x.postgresRunQueueSecondsWindow, x)),
    ],
    [
      '  bench process CPU %, its event-loop delay p99 ms',
      on(name, (x) => `${pct(x.drive.driverCpuSeconds, x)}, ${f(x.drive.driverLoopDelay.p99)}`),
    ],
    ['  daemon peak RSS, MB', on(name, (x) => f(x.drive.daemon.peakRssMb))],
    [
      '  drained (inbox, push outbox empty)',
      on(name, (x) =>
        x.drive.drained
          ? `yes, ${((x.drive.drainedAt - x.drive.driveEndAt) / 1000).toFixed(0)} s`
          : 'NO (deadline)',
      ),
    ],
  ];
  const rows: Row[] = [
    ...intakeRows('mixed', 'mixed: Shopify, Taobao, Douyin'),
    ...(['propagationNormalMs', 'propagationMs'] as const).flatMap((key) =>
      PLATFORMS.map(
        (p): Row => [
          `  propagation to ${p} ${key === 'propagationMs' ? 'at the peak' : 'at the normal rate'} p50 / p95 / p99, ms`,
          on('mixed', (x) => {
            const t = x.drive[key]?.[p];
            return t
              ? `${f(t.p50)} / ${f(t.p95)} / ${f(t.p99)}${t.timeouts ? ` (${t.timeouts} >60 s)` : ''}`
              : '-';
          }),
        ],
      ),
    ),
    [
      '  douyin API calls: stock reads / stock writes / order reads',
      on('mixed', (x) => {
        const c = x.drive.apiCalls.douyin ?? {};
        const n = (...methods: string[]) => methods.reduce((sum, m) => sum + (c[m] ?? 0), 0);
        return `${n('sku.list')} / ${n('sku.syncStock', 'sku.syncStockBatch')} / ${n('order.orderDetail', 'order.searchList')}`;
      }),
    ],
    ['  oversell: platform units beyond stock (ledger exceptions)', on('mixed', oversellCell)],
    ['adaptive buffer on: oversell, same measure', on('buffer', oversellCell)],
    [
      'oversell by the same moment, buffer off / adaptive',
      (r) =>
        r.oversellAtHorizon
          ? `${f(r.oversellAtHorizon.bufferOff)} / ${f(r.oversellAtHorizon.bufferAdaptive)} (${r.oversellAtHorizon.horizonS} s in)`
          : '-',
    ],
    ...intakeRows('shopify-only', 'Shopify only (full-order webhooks)'),
    [
      'raw-SQL baseline orders/s (lines/s)',
      (r) => {
        const b = r.runs.find((x) => x.baseline)?.baseline;
        return b ? `${b.ordersPerS} (${b.linesPerS})` : '-';
      },
    ],
    [
      'reserved orders/s over the baseline (target >= 40%)',
      (r) => (r.verdict.baselineRatio === null ? '-' : `${(r.verdict.baselineRatio * 100).toFixed(1)}%`),
    ],
    [
      'intake target met (mixed)',
      (r) =>
        r.verdict.intakeTargetMet === null
          ? '-'
          : `${r.verdict.intakeTargetMet ? 'yes' : 'no'} (${r.targets.ordersPerS}/s)`,
    ],
    ['ledger invariants (every run)', (r) => (r.verdict.ledgerOk ? 'ok' : 'VIOLATED')],
  ];
  const shown = rows
    .map(([n, fn]): [string, string[]] => [n, reports.map(fn)])
    .filter(([, c]) => c.some((x) => x !== '-'));
  const w0 = Math.max(...shown.map(([n]) => n.length));
  const cells = shown.map(([, c]) => c);
  const w = reports.map((_, i) => Math.max(reports[i]!.db.length, ...cells.map((c) => c[i]!.length)));
  console.log(`\n${'双11 profile'.padEnd(w0 - 2)} ${reports.map((r, i) => r.db.padStart(w[i]!)).join('  ')}`);
  shown.forEach(([n], j) => {
    console.log(`${n.padEnd(w0)} ${cells[j]!.map((c, i) => c.padStart(w[i]!)).join('  ')}`);
  });
}

function oversellCell(run: RunOutcome): string {
  const beyond = Object.values(run.metrics.oversell.byScarceSku).reduce(
    (n, s) => n + s.platformBeyondStock,
    0,
  );
  const exceptions = Object.values(run.metrics.oversell.byScarceSku).reduce(
    (n, s) => n + s.exceptionUnits,
    0,
  );
  return `${beyond} (${exceptions})`;
}

// -- entry ----------------------------------------------------------------------------------------

export async function runPeak(argv: string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (err) {
    console.error(
      `${(err as Error).message}\nusage: npm run bench -- peak [--db postgres|pglite] [--rate N] [--duration S] (see test/bench/peak/run-peak.ts)`,
    );
    return 2;
  }
  mkdirSync('bench-results', { recursive: true });
  console.log(
    `双11 peak profile: ${o.normal} s normal, ${o.ramp} s ramp, ${o.duration} s sustained; node ${process.version}, ` +
      `${cpus().length} x ${cpus()[0]?.model ?? '?'}, load average ${loadavg()[0]!.toFixed(2)}`,
  );
  // The daemon as it is deployed: compiled, not through tsx (see daemon-process.ts).
  process.stderr.write('building the daemon (tsc -p tsconfig.build.json) into bench-results/daemon-build\n');
  const main = buildDaemon('bench-results/daemon-build');
  const reports: DbReport[] = [];
  for (const kind of o.dbs) {
    if (kind === 'postgres') {
      const probe = new pg.Client({ connectionString: PG_SERVER });
      try {
        await probe.connect();
      } catch (err) {
        console.error(`PostgreSQL not reachable at ${PG_SERVER}: ${(err as Error).message}`);
        return 1;
      } finally {
        await probe.end().catch(() => {});
      }
    }
    const startedAt = new Date();
    const loadBefore = loadavg()[0]!;
    const runs: RunOutcome[] = [];
    const variants: Variant[] = [];
    const direct = o.runs.includes('shopify-only') && o.directDuration > 0;
    if (o.runs.includes('mixed'))
      variants.push({
        name: 'mixed',
        buffer: 'off',
        weights: o.weights,
        sustained: o.duration,
        tracers: true,
        baseline: !direct,
      });
    if (o.runs.includes('buffer') && o.bufferDuration > 0)
      variants.push({
        name: 'buffer',
        buffer: 'adaptive',
        weights: o.weights,
        sustained: o.bufferDuration,
        tracers: false,
        baseline: false,
      });
    if (direct)
      variants.push({
        name: 'shopify-only',
        buffer: 'off',
        weights: { shopify: 1, taobao: 0, douyin: 0 },
        sustained: o.directDuration,
        tracers: false,
        baseline: true,
      });
    if (variants.length === 0) {
      console.error('nothing to run (see --runs and the durations)');
      return 2;
    }
    for (const v of variants) runs.push(await runOnce(kind, o, v, main));
    const report = summarise(kind, o, runs, { before: loadBefore, after: loadavg()[0]! }, startedAt);
    const file = join('bench-results', `peak-${kind}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`${kind}: wrote ${file} (profile ${profileSeconds(runs[0]!.profile)} s)`);
    reports.push(report);
  }
  printTable(reports);
  const bad = reports.filter((r) => !r.verdict.ledgerOk);
  if (bad.length > 0) {
    console.error(`\nFAILED: ledger invariants violated on ${bad.map((r) => r.db).join(', ')}`);
    return 1;
  }
  return 0;
}
