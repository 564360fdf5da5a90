/**
 * The chaos run (issue 6): the real daemon as a child process, SIGKILLed and restarted again and
 * again while three sandbox shops (Shopify, Taobao/Tmall, Douyin) sell, cancel and announce their
 * orders through webhooks that arrive twice, out of order, or not at all, while the platforms'
 * APIs throttle, fail, hang and answer garbage in phases, and (optionally) PostgreSQL restarts
 * under it. Then it stops injecting, waits for the daemon to converge, and checks the books
 * against the platforms (see checks.ts). `npm run chaos` (run.ts) and test/e2e/chaos.test.ts
 * both call {@link runChaos}.
 *
 * Phases:
 * 1. setup: a fresh database, the sandboxes (webhooks to the relay, which sends them on to the
 *    daemon's fixed port), a config file, the daemon, the catalog seeded once through the admin API
 *    (sync-rig's logic: SKU-<i+1> for catalog entry i of every shop, opening stock, one listing per
 *    shop entry pushed to its stockRef), every shop pulled once;
 * 2. chaos, for `durationS` and until `kills` SIGKILLs happened (at most 3x the duration): per shop
 *    a steady stream of operations (generate, sell, cancel, duplicated delivery, reordered
 *    revisions, bad deliveries), fault phases on the sandboxes' APIs, the kill loop, one
 *    PostgreSQL restart half-way;
 * 3. convergence: no more faults, kills or orders; the daemon must bring every order in and every
 *    platform quantity in line within `convergeTimeoutS`;
 * 4. the daemon is stopped gracefully (it must exit 0) and the database is checked.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import axios from 'axios';
import { pino } from 'pino';
import type { FaultKind, FaultSpec, ListingRef, SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { mulberry32 } from '../../connectors/testing/sandbox-kit.js';
import { type CanonicalOrder, compareRevisions } from '../../src/domain/order.js';
import { freePort } from '../support/e2e.js';
import { type BadKind, badDelivery, badKindsFor, EXPECTED_STATUS } from './bad-webhooks.js';
import { type CheckResult, runChecks } from './checks.js';
import { DaemonSupervisor } from './daemon-process.js';
import {
  type Cluster,
  clusterOnPort,
  createChaosDatabase,
  dropChaosDatabase,
  restartCluster,
} from './postgres.js';
import { type RelayStats, WebhookRelay } from './relay.js';

export type ChaosPlatform = 'shopify' | 'taobao' | 'douyin';

export interface ChaosOptions {
  /** Seconds of intake with faults and kills (at least; see `kills`). */
  durationS: number;
  /** SIGKILLs of the daemon: the chaos phase goes on past `durationS` until there were this many. */
  kills: number;
  /** No more SIGKILLs after this many (the intake goes on for `durationS`). Default unlimited. */
  maxKills?: number;
  /** Operations per second over all shops (each places, cancels or announces an order, or sends a bad delivery). */
  rate: number;
  /** `postgres` (a new database on `pgServerUrl`) or `pglite` (a data directory in a temp folder). */
  database: 'postgres' | 'pglite';
  /** A PostgreSQL server URL whose database may create others. */
  pgServerUrl: string;
  /** Restart PostgreSQL once, half-way through the chaos phase. */
  pgRestart: boolean;
  /** The cluster to restart; default the local cluster listening on `pgServerUrl`'s port. */
  pgCluster?: Cluster;
  /** Seed of the driver's choices and of the sandboxes. */
  seed: number;
  /** Longest wait for convergence after the chaos phase. */
  convergeTimeoutS: number;
  /** Inject API faults into the sandboxes in phases. Default true. */
  faults?: boolean;
  /** Opening stock of every SKU. Default 5000 (ample: these runs are not about overselling). */
  openingStock?: number;
  /** Daemon uptime between kills once it answers /readyz, in seconds. Default [1.5, 5]. */
  uptimeS?: [number, number];
  /** Share of kills that hit a daemon still starting (0.3-3 s after spawn). Default 0.2. */
  startupKillShare?: number;
  /** Keep the database and the temp folder (log, config) afterwards. */
  keep?: boolean;
  /** The daemon's LOG_LEVEL. Default `warn`. */
  logLevel?: string;
  /**
   * Write a trace (JSON lines) to this file: every platform quantity change (polled every 100 ms)
   * and every operation of the driver, with times, to line up with the daemon's log.
   */
  traceFile?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  ok: boolean;
  violations: number;
  startedAt: string;
  options: Omit<ChaosOptions, 'log' | 'pgServerUrl' | 'pgCluster'> & { pgCluster?: string };
  database: string;
  /**
   * `ordersInS`: after the chaos phase, until every platform order was in the ledger with its
   * final status and the inbox empty; `convergeS`: until the platforms showed what the ledger
   * wants too (null: not within the timeout).
   */
  timings: {
    setupS: number;
    chaosS: number;
    ordersInS: number | null;
    convergeS: number | null;
    totalS: number;
  };
  daemon: {
    starts: number;
    kills: number;
    killsWhileStarting: number;
    /** Exits the driver did not cause (restarted by the supervisor). */
    unexpectedExits: { atS: number; code: number | null; signal: string | null; lastError?: string }[];
    startMs: { p50: number | null; max: number | null };
    finalStop: { code: number | null; signal: string | null; forced: boolean } | null;
    /** Every start, ready, kill and exit, with wall-clock times (to line up with the log). */
    timeline: { at: string; kind: string; pid: number; detail?: string }[];
  };
  pgRestart: {
    cluster: string;
    atS: number;
    tookMs: number;
    /** The daemon did not exit within 30 s of the restart. */
    daemonSurvived: boolean;
    daemonExits: { atS: number; code: number | null; signal: string | null; lastError?: string }[];
  } | null;
  faults: { injected: Record<FaultKind, number>; phases: { name: string; fromS: number; toS: number }[] };
  webhooks: {
    /** Deliveries the sandboxes emitted (all paths). */
    sent: number;
    /** One attempt each (the sandbox's own retries aside); refused ones must come by pull. */
    passThrough: number;
    passThroughFailed: number;
    /** Extra copies of one delivery. */
    duplicated: number;
    /** Later revision delivered before the earlier one (pairs). */
    reordered: number;
    /** Held and redelivered until taken (Taobao TMC, duplicates, reorders). */
    redelivered: number;
    redeliveryGaveUp: number;
    /** Bad deliveries sent straight to the daemon, and how they were answered. */
    bad: { sent: number; refused: number; byKind: Record<string, Record<string, number>> };
    relay: RelayStats;
  };
  orders: {
    total: number;
    perShop: Record<
      string,
      { placed: number; cancelledByDriver: number; onPlatform: number; announcementLost: number }
    >;
    /** Orders whose every webhook was refused or lost: they can only have come in by pull. */
    announcementLost: number;
  };
  inbox: Record<string, number>;
  convergence: { converged: boolean; lastBlockers: string[] };
  checks: CheckResult[];
  logFile: string;
  /** The code the daemon ran: the commit and the files that differed from it. */
  code: { head: string; dirty: string[] };
}

const PLATFORMS: readonly { suffix: string; platform: ChaosPlatform }[] = [
  { suffix: 'shopify', platform: 'shopify' },
  { suffix: 'tmall', platform: 'taobao' },
  { suffix: 'douyin', platform: 'douyin' },
];

interface ChaosShop {
  id: string;
  platform: ChaosPlatform;
  session: SandboxSession;
  config: Record<string, unknown>;
  catalog: ReturnType<SandboxSession['catalog']>;
}

interface Placed {
  shopId: string;
  id: string;
  via: 'generate' | 'sell';
  /** Deliveries of this order the daemon took. */
  accepted: number;
  cancelledByDriver: boolean;
  /** cancel() refused it (shipped or closed already). */
  uncancellable: boolean;
}

interface BadRecord {
  shopId: string;
  kind: BadKind;
  status: number;
}

const REPO_ROOT = resolve(import.meta.dirname, '../..');

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => {});
  const rng = mulberry32(opts.seed);
  const between = (a: number, b: number) => a + rng() * (b - a);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
  const startedAt = new Date();
  const t0 = Date.now();
  const secs = (ms = Date.now() - t0) => Math.round(ms / 100) / 10;

  const tmp = mkdtempSync(join(tmpdir(), 'stockd-chaos-'));
  const logFile = join(tmp, 'daemon.log');
  const cleanups: (() => Promise<void>)[] = [];
  let report: ChaosReport | undefined;
  try {
    // ---- setup ------------------------------------------------------------------------------
    let databaseUrl: string;
    if (opts.database === 'postgres') {
      databaseUrl = await createChaosDatabase(opts.pgServerUrl);
      if (!opts.keep) cleanups.push(() => dropChaosDatabase(opts.pgServerUrl, databaseUrl));
    } else {
      mkdirSync(join(tmp, 'pglite'));
      databaseUrl = `pglite:${join(tmp, 'pglite')}`;
    }
    log(`database ${databaseUrl}; daemon log ${logFile}`);
    const port = await freePort();
    const daemonUrl = `http://127.0.0.1:${port}`;
    const relay = new WebhookRelay(daemonUrl);
    const relayUrl = await relay.start();
    cleanups.push(() => relay.stop());

    const shops: ChaosShop[] = [];
    for (const [i, p] of PLATFORMS.entries()) {
      const id = `${p.suffix}-chaos`;
      const session = await (await getConnector(p.platform).sandbox()).start({
        seed: opts.seed + i + 1,
        relaxedRateLimits: true,
        webhookUrl: `${relayUrl}/webhooks/${p.platform}/${id}`,
      });
      cleanups.push(() => session.stop());
      shops.push({
        id,
        platform: p.platform,
        session,
        config: session.config as Record<string, unknown>,
        catalog: session.catalog(),
      });
    }
    const configFile = join(tmp, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        {
          $comment: 'chaos run (test/chaos/driver.ts)',
          server: { host: '127.0.0.1', port },
          database: { url: databaseUrl, poolSize: 4 },
          log: { level: 'warn' },
          shutdown: { graceMs: 3000 },
          sync: {
            pullCron: '*/2 * * * * *',
            inboxIdleMs: 100,
            pushIdleMs: 100,
            leaseMs: 3000,
            pauseProbeMs: 1000,
            reconcileCron: '*/15 * * * * *',
            // Units the push guard holds back as "sold there, not imported" are released after
            // this grace if no order explains them; the convergence check waits for it. Known
            // weakness: a SIGKILL at an unlucky moment can leave a few such units unexplained
            // (seen: 3 units on one listing in a short run), which only this grace releases.
            heldBackGraceMs: 30_000,
          },
          shops: shops.map((s) => ({
            id: s.id,
            platform: s.platform,
            warehouses: ['MAIN'],
            // The sandboxes take a listing's units when an order is placed, paid or not (拍下减库存),
            // so the ledger must too: with `paid`, every unpaid order would be a legitimate gap
            // between what the platform shows and what we push.
            reserveOn: 'created',
            matchOuterId: false,
            connector: s.config,
          })),
        },
        null,
        2,
      ),
    );
    // The daemon runs from a copy of the code taken now, so that every restart runs the same
    // code even while the working tree changes under the run (and migrations with it).
    const app = snapshotCode(join(tmp, 'app'));
    const daemon = new DaemonSupervisor({
      cwd: app.dir,
      url: daemonUrl,
      logFile,
      env: { CONFIG: configFile, DATABASE_URL: databaseUrl, LOG_LEVEL: opts.logLevel ?? 'warn' },
    });
    let daemonStopped = false;
    cleanups.push(async () => {
      if (!daemonStopped) await daemon.stop(5000);
    });
    await daemon.start();

    const openingStock = opts.openingStock ?? 5000;
    const skuOf = new Map<string, string>(); // `${shopId}:${platformItemId}:${platformSkuId}` -> SKU code
    await seedCatalog(daemonUrl, shops, openingStock, skuOf);
    await until('every shop pulled once and its opening stock pushed', 120_000, async () => {
      const st = await getJson<StatusJson>(`${daemonUrl}/api/status`);
      return st.shops.every((s) => s.pull.lastAt !== null && s.push.pending === 0 && s.push.synced > 0);
    });
    const setupS = secs();
    log(`setup done in ${setupS} s: ${shops.map((s) => `${s.id} ${s.catalog.length} listings`).join(', ')}`);

    // ---- chaos ------------------------------------------------------------------------------
    const placed = new Map<string, Placed>(); // `${shopId}:${id}`
    const bad: BadRecord[] = [];
    const pending = new Set<Promise<unknown>>();
    const track = (p: Promise<unknown>) => {
      const q = p.catch(() => {}).finally(() => pending.delete(q));
      pending.add(q);
    };
    const wh = { duplicated: 0, reordered: 0, redelivered: 0, redeliveryGaveUp: 0, badSeq: 0 };
    const chaosStart = Date.now();
    const chaosElapsed = () => (Date.now() - chaosStart) / 1000;
    const hardStopS = opts.durationS * 3;
    const chaosOver = () =>
      chaosElapsed() >= hardStopS ||
      (chaosElapsed() >= opts.durationS &&
        daemon.events.filter((e) => e.kind === 'kill').length >= opts.kills);

    const traceOut = opts.traceFile ? createWriteStream(opts.traceFile) : undefined;
    const trace = (o: Record<string, unknown>) =>
      traceOut?.write(`${JSON.stringify({ t: new Date().toISOString(), ...o })}\n`);
    const lastQty = new Map<string, number>();
    const tracer = traceOut
      ? setInterval(() => {
          for (const s of shops)
            for (const l of s.session.listings()) {
              const k = `${s.id}|${l.listing.listingId}|${l.listing.locationId ?? ''}`;
              const was = lastQty.get(k);
              if (was !== l.quantity) {
                lastQty.set(k, l.quantity);
                const entry = s.catalog.find(
                  (e) =>
                    e.stockRef.listingId === l.listing.listingId &&
                    (e.stockRef.locationId ?? '') === (l.listing.locationId ?? ''),
                );
                const code = entry
                  ? skuOf.get(`${s.id}:${entry.platformItemId}:${entry.platformSkuId ?? ''}`)
                  : undefined;
                trace({ ev: 'qty', shop: s.id, sku: code, from: was, to: l.quantity });
              }
            }
        }, 100)
      : undefined;
    cleanups.push(async () => {
      if (tracer) clearInterval(tracer);
      traceOut?.end();
    });
    const record = (s: ChaosShop, id: string, via: Placed['via']): Placed => {
      trace({ ev: 'placed', shop: s.id, id, via });
      const p: Placed = {
        shopId: s.id,
        id,
        via,
        accepted: 0,
        cancelledByDriver: false,
        uncancellable: false,
      };
      placed.set(`${s.id}:${id}`, p);
      return p;
    };
    /** The sandbox announces the order itself: one attempt (plus its own retries); lost if refused. */
    const announceNative = async (s: ChaosShop, p: Placed) => {
      if (
        await s.session.deliverOrderWebhook(p.id).then(
          () => true,
          () => false,
        )
      )
        p.accepted++;
    };
    /** Held by the relay and redelivered until the daemon takes it, `copies` times. */
    const announceDurable = async (s: ChaosShop, p: Placed, copies = 1) => {
      const cap = await relay.capture(s.id, () => s.session.deliverOrderWebhook(p.id));
      for (const d of cap.deliveries) {
        wh.redelivered++;
        wh.duplicated += copies - 1;
        track(
          (async () => {
            const first = await relay.forward(d);
            const rest = await Promise.all(Array.from({ length: copies - 1 }, () => relay.forward(d)));
            for (const r of [first, ...rest]) {
              if (r.status >= 200 && r.status < 300) p.accepted++;
              else wh.redeliveryGaveUp++;
            }
          })(),
        );
      }
    };
    const sellOne = async (s: ChaosShop): Promise<Placed | undefined> => {
      for (let tries = 0; tries < 3; tries++) {
        const entry = pick(s.catalog);
        try {
          const id = await s.session.sell(entry.stockRef, 1 + Math.floor(rng() * 2));
          return record(s, id, 'sell');
        } catch {
          // that listing is sold out on the platform: try another
        }
      }
      return undefined;
    };
    const openOrders = (s: ChaosShop) =>
      [...placed.values()].filter((p) => p.shopId === s.id && !p.cancelledByDriver && !p.uncancellable);

    const operation = async (s: ChaosShop) => {
      const r = rng();
      if (r < 0.4) {
        const [id] = await s.session.generateOrders(1);
        if (!id) return;
        const p = record(s, id, 'generate');
        // Taobao's generated trades carry back-dated modified times (sandbox history): an
        // incremental pull past them never sees them, so their TMC message must get through,
        // as TMC's durable queue makes sure it does.
        if (s.platform === 'taobao') await announceDurable(s, p);
        else await announceNative(s, p);
      } else if (r < 0.55) {
        const p = await sellOne(s);
        if (p) await announceNative(s, p);
      } else if (r < 0.7) {
        const open = openOrders(s);
        if (open.length === 0) return;
        const p = pick(open.slice(-50));
        try {
          await s.session.cancel(p.id);
          p.cancelledByDriver = true;
          trace({ ev: 'cancelled', shop: s.id, id: p.id });
        } catch {
          p.uncancellable = true;
          return;
        }
        await announceNative(s, p);
      } else if (r < 0.8) {
        // The same delivery 2-3 times (the copies after the first at the same moment).
        const [id] = await s.session.generateOrders(1);
        if (!id) return;
        await announceDurable(s, record(s, id, 'generate'), 2 + Math.floor(rng() * 2));
      } else if (r < 0.92) {
        // Reordered: a paid order is cancelled, and the cancellation's delivery arrives first.
        const p = await sellOne(s);
        if (!p) return;
        const paid = await relay.capture(s.id, () => s.session.deliverOrderWebhook(p.id));
        try {
          await s.session.cancel(p.id);
          p.cancelledByDriver = true;
          trace({ ev: 'cancelled', shop: s.id, id: p.id, reorder: true });
        } catch {
          p.uncancellable = true;
        }
        const cancelled = p.cancelledByDriver
          ? await relay.capture(s.id, () => s.session.deliverOrderWebhook(p.id))
          : { deliveries: [] };
        if (cancelled.deliveries.length > 0 && paid.deliveries.length > 0) wh.reordered++;
        const order = [...cancelled.deliveries, ...paid.deliveries];
        wh.redelivered += order.length;
        track(
          (async () => {
            for (const d of order) {
              const res = await relay.forward(d);
              if (res.status >= 200 && res.status < 300) p.accepted++;
              else wh.redeliveryGaveUp++;
            }
          })(),
        );
      } else {
        const kinds = badKindsFor(s.platform);
        const n = ++wh.badSeq;
        const b = badDelivery(s.platform, s.config, kinds[n % kinds.length]!, n);
        track(
          (async () => {
            // Sent again while the daemon is down (or its database), for up to 90 s.
            const deadline = Date.now() + 90_000;
            let status = 0;
            for (;;) {
              status = await relay.send(`/webhooks/${s.platform}/${s.id}`, b.headers, b.body, false);
              if ((status > 0 && status < 500) || Date.now() > deadline) break;
              await new Promise((r) => setTimeout(r, 500));
            }
            bad.push({ shopId: s.id, kind: b.kind, status });
          })(),
        );
      }
    };

    const perShopIntervalMs = (1000 * shops.length) / opts.rate;
    const intake = shops.map(async (s, i) => {
      let next = Date.now() + (i * perShopIntervalMs) / shops.length;
      while (!chaosOver()) {
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        next += perShopIntervalMs * between(0.5, 1.5);
        try {
          await operation(s);
        } catch (err) {
          log(`operation on ${s.id} failed: ${(err as Error).message}`);
        }
      }
    });

    // Kills: after each start, either while it is still starting, or after a short uptime.
    const uptime = opts.uptimeS ?? [1.5, 5];
    const startupShare = opts.startupKillShare ?? 0.2;
    const killer = (async () => {
      while (!chaosOver()) {
        if (rng() < startupShare) {
          await sleepUnless(between(300, 3000), chaosOver);
        } else {
          await Promise.race([daemon.waitReady(120_000).catch(() => {}), waitFor(chaosOver)]);
          await sleepUnless(between(uptime[0], uptime[1]) * 1000, chaosOver);
        }
        if (chaosOver()) break;
        if (
          daemon.events.filter((e) => e.kind === 'kill').length >= (opts.maxKills ?? Number.POSITIVE_INFINITY)
        ) {
          await waitFor(chaosOver);
          break;
        }
        await daemon.kill();
      }
    })();

    // API faults in phases over the first `durationS` (the chaos phase may run longer: calm then).
    const faultsOn = opts.faults !== false;
    const byPlatform = (p: ChaosPlatform) => shops.filter((s) => s.platform === p);
    const phases: { name: string; shops: ChaosShop[]; spec: FaultSpec | null }[] = [
      { name: 'calm', shops, spec: null },
      {
        name: 'shopify: 429 storm',
        shops: byPlatform('shopify'),
        spec: { rate429: 0.4, retryAfterSeconds: 1 },
      },
      {
        name: 'taobao: 500s and hung requests',
        shops: byPlatform('taobao'),
        spec: { rate500: 0.3, rateTimeout: 0.1, timeoutMs: 2000 },
      },
      {
        // A lost reply applies: a stock change sent again without its key would land twice.
        name: 'douyin: malformed and lost replies, 500s',
        shops: byPlatform('douyin'),
        spec: { rateMalformed: 0.2, rateLost: 0.15, rate500: 0.1 },
      },
      {
        name: 'all: mixed',
        shops,
        spec: {
          rate429: 0.1,
          rate500: 0.15,
          rateTimeout: 0.05,
          rateMalformed: 0.05,
          rateLost: 0.05,
          retryAfterSeconds: 1,
          timeoutMs: 2000,
        },
      },
      { name: 'calm', shops, spec: null },
    ];
    const phaseLog: { name: string; fromS: number; toS: number }[] = [];
    const faultDriver = (async () => {
      if (!faultsOn) return;
      const each = (opts.durationS * 1000) / phases.length;
      for (const ph of phases) {
        if (chaosOver()) break;
        const from = chaosElapsed();
        for (const s of shops) s.session.faults(ph.shops.includes(s) ? ph.spec : null);
        log(`t=${Math.round(from)}s fault phase: ${ph.name}`);
        await sleepUnless(each, chaosOver);
        phaseLog.push({ name: ph.name, fromS: Math.round(from), toS: Math.round(chaosElapsed()) });
      }
      for (const s of shops) s.session.faults(null);
    })();

    // PostgreSQL restart, once, between 40 % and 60 % of the duration.
    const pgState: { restart: ChaosReport['pgRestart'] } = { restart: null };
    const pgDriver = (async () => {
      if (!opts.pgRestart || opts.database !== 'postgres') return;
      const cluster = opts.pgCluster ?? (await clusterOnPort(Number(new URL(opts.pgServerUrl).port || 5432)));
      if (!cluster) throw new Error(`no local PostgreSQL cluster listens on ${opts.pgServerUrl}`);
      await sleepUnless(between(0.4, 0.6) * opts.durationS * 1000, chaosOver);
      const at = daemon.now();
      log(`t=${Math.round(chaosElapsed())}s restarting PostgreSQL ${cluster.version}/${cluster.name}`);
      const tookMs = await restartCluster(cluster);
      log(`PostgreSQL back after ${tookMs} ms`);
      await new Promise((r) => setTimeout(r, 30_000));
      const exits = daemon.events
        .filter((e) => e.kind === 'exit' && e.unexpected && e.at >= at && e.at <= at + tookMs + 30_000)
        .map((e) => ({
          atS: Math.round(e.at / 100) / 10,
          code: e.code ?? null,
          signal: e.signal ?? null,
          ...(e.lastError ? { lastError: e.lastError } : {}),
        }));
      pgState.restart = {
        cluster: `${cluster.version}/${cluster.name}`,
        atS: Math.round(at / 100) / 10,
        tookMs,
        daemonSurvived: exits.length === 0,
        daemonExits: exits,
      };
    })();

    const progress = setInterval(() => {
      const kills = daemon.events.filter((e) => e.kind === 'kill').length;
      log(
        `t=${Math.round(chaosElapsed())}s kills ${kills}, daemon ${daemon.ready ? 'up' : 'starting'}, orders ${placed.size}, ` +
          `webhooks ${relay.stats.received} (refused/lost ${relay.stats.passFailed}), bad ${bad.length}, redeliveries pending ${pending.size}`,
      );
    }, 10_000);
    try {
      await Promise.all([...intake, killer, faultDriver, pgDriver]);
    } finally {
      clearInterval(progress);
    }
    for (const s of shops) s.session.faults(null);
    const chaosS = secs(Date.now() - chaosStart);
    log(`chaos phase over after ${chaosS} s; waiting for ${pending.size} redeliveries`);
    await Promise.all([...pending]);

    // ---- convergence ------------------------------------------------------------------------
    const convergeStart = Date.now();
    await daemon.waitReady(60_000).catch(() => log('the daemon is not ready 60 s after the chaos phase'));
    const truth = await collectTruth(shops, placed);
    let blockers: string[] = ['not checked'];
    let converged = false;
    let ordersInS: number | null = null;
    while (Date.now() - convergeStart < opts.convergeTimeoutS * 1000) {
      blockers = await convergenceBlockers(daemonUrl, shops, truth, skuOf).catch((err: unknown) => [
        `daemon not answering: ${(err as Error).message}`,
      ]);
      if (
        ordersInS === null &&
        !blockers.some((b) => /orders missing|another status|inbox:|not answering/.test(b))
      )
        ordersInS = secs(Date.now() - convergeStart);
      if (blockers.length === 0) {
        converged = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    const convergeS = converged ? secs(Date.now() - convergeStart) : null;
    log(converged ? `converged after ${convergeS} s` : `NOT converged: ${blockers.slice(0, 5).join('; ')}`);

    const finalStop = await daemon.stop(30_000);
    daemonStopped = true;

    // ---- checks -----------------------------------------------------------------------------
    const checked = await runChecks({
      databaseUrl,
      shops: shops.map((s) => ({ id: s.id, session: s.session, catalog: s.catalog })),
      truth,
      openingStock,
      bad,
      expectedBadStatus: EXPECTED_STATUS,
      finalStop,
      crashes: daemon.crashes().filter((c) => {
        const r = pgState.restart;
        return !r || c.at < r.atS * 1000 || c.at > r.atS * 1000 + r.tookMs + 30_000;
      }),
    });
    if (!converged)
      checked.checks.unshift({
        name: 'converged',
        ok: false,
        detail: `not within ${opts.convergeTimeoutS} s`,
        violations: blockers.slice(0, 50),
      });

    const kills = daemon.events.filter((e) => e.kind === 'kill');
    const startMs = daemon.events
      .filter((e) => e.kind === 'ready')
      .map((e) => e.startMs!)
      .sort((a, b) => a - b);
    const injected: Record<FaultKind, number> = { '429': 0, '500': 0, timeout: 0, malformed: 0, lost: 0 };
    for (const s of shops)
      for (const [k, v] of Object.entries(s.session.faultCounts())) injected[k as FaultKind] += v;
    const byKind: Record<string, Record<string, number>> = {};
    for (const b of bad) {
      const k = byKind[b.kind] ?? {};
      k[String(b.status)] = (k[String(b.status)] ?? 0) + 1;
      byKind[b.kind] = k;
    }
    const perShop: ChaosReport['orders']['perShop'] = {};
    for (const s of shops) {
      const mine = [...placed.values()].filter((p) => p.shopId === s.id);
      perShop[s.id] = {
        placed: mine.length,
        cancelledByDriver: mine.filter((p) => p.cancelledByDriver).length,
        onPlatform: truth.get(s.id)!.size,
        announcementLost: mine.filter((p) => p.accepted === 0).length,
      };
    }
    const violations = checked.checks.reduce((n, c) => n + (c.ok ? 0 : Math.max(1, c.violations.length)), 0);
    report = {
      ok: violations === 0,
      violations,
      startedAt: startedAt.toISOString(),
      options: {
        durationS: opts.durationS,
        kills: opts.kills,
        ...(opts.maxKills === undefined ? {} : { maxKills: opts.maxKills }),
        rate: opts.rate,
        database: opts.database,
        pgRestart: opts.pgRestart,
        ...(opts.pgCluster ? { pgCluster: `${opts.pgCluster.version}/${opts.pgCluster.name}` } : {}),
        seed: opts.seed,
        convergeTimeoutS: opts.convergeTimeoutS,
        faults: faultsOn,
        openingStock,
        uptimeS: uptime,
        startupKillShare: startupShare,
        keep: opts.keep ?? false,
        logLevel: opts.logLevel ?? 'warn',
      },
      database: opts.database === 'postgres' ? databaseUrl.replace(/\/\/[^@]*@/, '//') : 'pglite',
      timings: { setupS, chaosS, ordersInS, convergeS, totalS: secs() },
      daemon: {
        starts: daemon.events.filter((e) => e.kind === 'start').length,
        kills: kills.length,
        killsWhileStarting: kills.filter((k) => !k.wasReady).length,
        unexpectedExits: daemon.crashes().map((e) => ({
          atS: Math.round(e.at / 100) / 10,
          code: e.code ?? null,
          signal: e.signal ?? null,
          ...(e.lastError ? { lastError: e.lastError } : {}),
        })),
        startMs: {
          p50: startMs.length ? startMs[Math.floor(startMs.length / 2)]! : null,
          max: startMs.at(-1) ?? null,
        },
        finalStop,
        timeline: daemon.events.map((e) => ({
          at: new Date(daemon.startedAt + e.at).toISOString(),
          kind: e.kind,
          pid: e.pid,
          ...(e.kind === 'kill' ? { detail: e.wasReady ? 'was ready' : 'while starting' } : {}),
          ...(e.kind === 'exit'
            ? { detail: `code ${e.code} signal ${e.signal}${e.unexpected ? ' UNEXPECTED' : ''}` }
            : {}),
          ...(e.kind === 'ready' ? { detail: `${e.startMs} ms` } : {}),
        })),
      },
      pgRestart: pgState.restart,
      faults: { injected, phases: phaseLog },
      webhooks: {
        sent: relay.stats.received,
        passThrough: relay.stats.passedThrough,
        passThroughFailed: relay.stats.passFailed,
        duplicated: wh.duplicated,
        reordered: wh.reordered,
        redelivered: wh.redelivered,
        redeliveryGaveUp: wh.redeliveryGaveUp,
        bad: {
          sent: bad.length,
          refused: bad.filter((b) => b.status === 400 || b.status === 401).length,
          byKind,
        },
        relay: relay.stats,
      },
      orders: {
        total: [...truth.values()].reduce((n, m) => n + m.size, 0),
        perShop,
        announcementLost: [...placed.values()].filter((p) => p.accepted === 0).length,
      },
      inbox: checked.inbox,
      convergence: { converged, lastBlockers: converged ? [] : blockers.slice(0, 50) },
      checks: checked.checks,
      logFile,
      code: app.code,
    };
    return report;
  } finally {
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
    if (!opts.keep && report?.ok) rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Copies what the daemon runs (src, connectors, prisma, package.json, tsconfig.json) to `dir`,
 * with node_modules linked; says which commit it was and which of those files differed from it.
 */
function snapshotCode(dir: string): { dir: string; code: { head: string; dirty: string[] } } {
  mkdirSync(dir, { recursive: true });
  for (const p of ['src', 'connectors', 'prisma', 'package.json', 'tsconfig.json'])
    cpSync(join(REPO_ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const git = (...a: string[]) => {
    try {
      return execFileSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'connectors', 'prisma')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3));
  return { dir, code: { head: git('rev-parse', 'HEAD'), dirty } };
}

interface StatusJson {
  inbox: { pending: number; due: number; parked: number };
  shops: {
    id: string;
    paused: unknown;
    pull: { lastAt: string | null };
    push: { pending: number; suspended: number; synced: number };
  }[];
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function send(method: 'PUT' | 'POST', url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}

/** test/support/sync-rig.ts's seedCatalog, through the admin API of the daemon process. */
async function seedCatalog(
  url: string,
  shops: readonly ChaosShop[],
  openingStock: number,
  skuOf: Map<string, string>,
): Promise<void> {
  await send('PUT', `${url}/api/warehouses/MAIN`, { name: 'main' });
  const skus = new Set<string>();
  for (const s of shops) {
    for (const [i, entry] of s.catalog.entries()) {
      const code = `SKU-${i + 1}`;
      if (!skus.has(code)) {
        skus.add(code);
        await send('PUT', `${url}/api/skus/${code}`, { name: code });
        await send('POST', `${url}/api/stock/receipts`, {
          key: `open-${code}`,
          sku: code,
          warehouse: 'MAIN',
          quantity: openingStock,
        });
      }
      skuOf.set(`${s.id}:${entry.platformItemId}:${entry.platformSkuId ?? ''}`, code);
      await send('PUT', `${url}/api/listings`, {
        shopId: s.id,
        platformItemId: entry.platformItemId,
        ...(entry.platformSkuId ? { platformSkuId: entry.platformSkuId } : {}),
        sku: code,
        stockRef: entry.stockRef,
      });
    }
  }
}

/**
 * What each platform holds now, read through a connector of our own (the same mapping the
 * daemon uses): a full pull from the beginning, plus a fetch of every order the driver placed
 * that the pull did not list. Faults are off by now.
 */
async function collectTruth(
  shops: readonly ChaosShop[],
  placed: ReadonlyMap<string, Placed>,
): Promise<Map<string, Map<string, CanonicalOrder>>> {
  const truth = new Map<string, Map<string, CanonicalOrder>>();
  const http = axios.create({ timeout: 30_000 });
  for (const s of shops) {
    const connector = getConnector(s.platform).create(s.config, {
      http,
      log: pino({ level: 'silent' }),
      clock: { now: () => new Date() },
    });
    const orders = new Map<string, CanonicalOrder>();
    const keep = (o: CanonicalOrder) => {
      const order = { ...o, shopId: s.id };
      const had = orders.get(o.platformOrderId);
      if (!had || compareRevisions(order, had).result === 'newer') orders.set(o.platformOrderId, order);
    };
    for await (const page of connector.pullOrders(null)) {
      for (const o of page.orders) keep(o);
      if (page.rejects.length > 0)
        throw new Error(
          `${s.id}: the platform has orders our connector cannot map: ${JSON.stringify(page.rejects)}`,
        );
    }
    for (const p of placed.values()) {
      if (p.shopId !== s.id || orders.has(p.id)) continue;
      const o = await connector.fetchOrder(p.id);
      if (!o) throw new Error(`${s.id}: order ${p.id} placed by the driver is unknown to the platform`);
      keep(o);
    }
    truth.set(s.id, orders);
  }
  return truth;
}

/** Why the daemon has not converged yet (empty: it has), read through its HTTP API. */
async function convergenceBlockers(
  url: string,
  shops: readonly ChaosShop[],
  truth: ReadonlyMap<string, ReadonlyMap<string, CanonicalOrder>>,
  skuOf: ReadonlyMap<string, string>,
): Promise<string[]> {
  const out: string[] = [];
  const st = await getJson<StatusJson>(`${url}/api/status`);
  if (st.inbox.pending > 0) out.push(`inbox: ${st.inbox.pending} pending (${st.inbox.due} due)`);
  for (const s of st.shops) {
    if (s.paused) out.push(`${s.id}: paused`);
    if (s.push.pending > 0 || s.push.suspended > 0)
      out.push(`${s.id}: push ${s.push.pending} pending, ${s.push.suspended} suspended`);
  }
  for (const s of shops) {
    const seen = new Map<string, string>();
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const r: { items: { platformOrderId: string; status: string }[]; nextCursor: string | null } =
        await getJson(`${url}/api/orders?shopId=${s.id}&limit=200${q}`);
      for (const o of r.items) seen.set(o.platformOrderId, o.status);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    const want = truth.get(s.id)!;
    const missing = [...want.keys()].filter((id) => !seen.has(id));
    const stale = [...want.values()].filter(
      (o) => seen.has(o.platformOrderId) && seen.get(o.platformOrderId) !== o.status,
    );
    if (missing.length > 0)
      out.push(`${s.id}: ${missing.length} orders missing (e.g. ${missing.slice(0, 3).join(', ')})`);
    if (stale.length > 0)
      out.push(
        `${s.id}: ${stale.length} orders with another status (e.g. ${stale
          .slice(0, 3)
          .map((o) => `${o.platformOrderId} ${seen.get(o.platformOrderId)} != ${o.status}`)
          .join(', ')})`,
      );
    const rows: {
      items: {
        platformItemId: string;
        platformSkuId: string | null;
        status: string;
        desired: number;
        sku: string;
      }[];
    } = await getJson(`${url}/api/push?shopId=${s.id}&limit=200`);
    for (const row of rows.items) {
      const entry = s.catalog.find(
        (e) => e.platformItemId === row.platformItemId && (e.platformSkuId ?? null) === row.platformSkuId,
      );
      if (!entry || skuOf.get(`${s.id}:${entry.platformItemId}:${entry.platformSkuId ?? ''}`) !== row.sku) {
        out.push(`${s.id}: push row for unknown listing ${row.platformItemId}/${row.platformSkuId}`);
        continue;
      }
      const q = s.session.quantity(entry.stockRef as ListingRef);
      // Platforms without compare-and-set (Taobao, Douyin: read back, then an absolute write)
      // can end below the ledger when one of their own sales falls between the read and the
      // write; that under-lists but never oversells, so only a platform above the ledger blocks
      // convergence there (the README's stock push section names this gap).
      const exact = s.platform === 'shopify';
      if (row.status !== 'synced' || (exact ? q !== row.desired : q > row.desired))
        out.push(`${s.id} ${row.sku}: ${row.status}, desired ${row.desired}, platform ${q}`);
    }
  }
  return out;
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await ok()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms ${last}`);
}

async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !stop())
    await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 200));
}
