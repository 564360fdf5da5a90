/**
 * Starting and stopping one daemon in-process: database, migrations, HTTP server. main.ts adds
 * the process concerns (env, signals, exit codes); tests call {@link startDaemon} directly.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { ADMIN_TOKEN_REQUIRED, type Config, ConfigError, isLoopbackHost } from './config.js';
import { type Db, openDatabase, parseDatabaseUrl } from './db/client.js';
import { migrate } from './db/migrate.js';
import { lockPgliteDir } from './db/pglite-lock.js';
import { createInventory, type Inventory } from './inventory/index.js';
import type { Logger } from './log.js';
import { Orders } from './orders/index.js';
import { ProcessMonitor } from './process-stats.js';
import { adminApi } from './server/admin-inventory.js';
import { ordersRouter } from './server/admin-orders.js';
import { syncRouter } from './server/admin-sync.js';
import { type AppEnv, type Clock, createApp, type MountedRouter, systemClock } from './server/app.js';
import { statusRootRedirect, statusRouter } from './server/status-routes.js';
import { webhookRouter } from './server/webhooks.js';
import { SandboxShops } from './sync/demo.js';
import { SyncEngine } from './sync/engine.js';
import { createShopConnectors } from './sync/shop-connectors.js';
import { statusReport } from './sync/status.js';

export interface DaemonOptions {
  clock?: Clock;
  /** Extra routers mounted into the app after the admin API at `/api` (see createApp). */
  routes?: readonly MountedRouter[];
  /**
   * The embedded database stopped for good (PGlite's worker thread died): logged as fatal, then
   * this is called. src/main.ts exits with 1 so that a supervisor restarts the daemon (the data
   * directory is crash-safe, as after a SIGKILL).
   */
  onDatabaseLost?: (err: Error) => void;
}

export interface Daemon {
  /** Base URL the server listens on, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly db: Db;
  readonly inventory: Inventory;
  /** This replica's lease-owner id (scheduled jobs), or undefined when sync is disabled. */
  readonly replicaId: string | undefined;
  /** The sync engine (inbox worker, pushers, scheduled jobs), unless `sync.enabled` is false. */
  readonly engine: SyncEngine | undefined;
  /** The order intake for `config.shops` (processed by the sync engine, or by POST /api/inbox/process). */
  readonly orders: Orders;
  readonly app: Hono<AppEnv>;
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish for up to
   * `shutdown.graceMs` (then cut their connections), close the database. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Opens the database, applies pending migrations, records `config.shops`, and listens on
 * `server.host:server.port`, serving the admin API (inventory and orders) at `/api` (bearer auth
 * when `admin.token` is set; without a token only on a loopback host: loadConfig refuses
 * anything else, and so does this function for a config built by hand). Unless `sync.enabled` is
 * false, the sync engine processes the inbox, resolves re-fetch hints, pulls and pushes.
 * Logs one line `stockd listening on <url> (database: <kind>); status at <url>/status`.
 * On failure everything opened so far is closed again before the error is rethrown.
 */
export async function startDaemon(config: Config, log: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  if (config.admin.token === undefined && !isLoopbackHost(config.server.host)) {
    throw new ConfigError([
      {
        path: 'admin.token',
        source: 'startDaemon',
        message: `${ADMIN_TOKEN_REQUIRED} (server.host is ${JSON.stringify(config.server.host)})`,
      },
    ]);
  }
  const target = parseDatabaseUrl(config.database.url);
  const unlock = target.kind === 'pglite' && target.dataDir ? lockPgliteDir(target.dataDir) : () => {};
  let db: Db;
  try {
    db = await openDatabase(config.database.url, {
      poolSize: config.database.poolSize,
      pgliteSharedBuffersMb: config.database.pgliteSharedBuffersMb,
      onLost: (err) => {
        log.fatal({ err }, 'the database stopped');
        options.onDatabaseLost?.(err);
      },
    });
  } catch (err) {
    unlock();
    throw err;
  }
  let server: Server | undefined;
  let stopSync: () => Promise<void> = async () => {};
  let sandboxes: SandboxShops | undefined;
  const processMonitor = new ProcessMonitor();
  try {
    const report = await migrate(db);
    if (report.applied.length > 0) log.info({ applied: report.applied }, 'migrations applied');
    const inventory = createInventory(db, {
      lockTimeoutMs: config.inventory.lockTimeoutMs,
      concurrency: db.kind === 'postgres' ? config.database.poolSize : 1,
    });
    const demo = await SandboxShops.start(config.shops, config.server, log.child({ component: 'demo' }));
    sandboxes = demo.sandboxes;
    const shops = demo.shops;
    const shopConnectors = createShopConnectors(
      shops,
      log.child({ component: 'connector' }),
      options.clock ?? systemClock,
    );
    let engine: SyncEngine | undefined;
    const orders = new Orders(inventory, shops, log.child({ component: 'orders' }), {
      clock: options.clock,
      onReceived: () => engine?.wakeInbox(),
      onApplied: () => engine?.wakePush(),
    });
    await orders.registerShops();
    await sandboxes.seed(inventory, orders, shops);
    if (config.sync.enabled) {
      engine = new SyncEngine(inventory, orders, shops, shopConnectors, config.sync, log);
      await engine.start();
    }
    stopSync = async () => {
      await engine?.stop();
    };
    const api = adminApi({ inventory, token: config.admin.token });
    api.route('/', ordersRouter(orders));
    api.route('/', syncRouter({ inventory, shopIds: shops.map((s) => s.id), engine }));
    const status = () =>
      statusReport({
        inv: inventory,
        orders,
        shops,
        connectors: shopConnectors,
        gates: engine?.gates,
        replicaId: engine?.replicaId,
        database: db.displayUrl,
        process: () => processMonitor.stats(),
      });
    api.get('/status', async (c) => c.json(await status()));

    let draining = false;
    const app = createApp({
      db,
      log,
      clock: options.clock,
      bodyLimitBytes: config.server.bodyLimitBytes,
      isDraining: () => draining,
      routes: [
        { path: '/api', router: api },
        { path: '/webhooks', router: webhookRouter({ orders, shops: shopConnectors }) },
        { path: '/status', router: statusRouter({ report: status, token: config.admin.token }) },
        { path: '/', router: statusRootRedirect() },
        ...(options.routes ?? []),
      ],
    });
    server = await listen(app, config.server.host, config.server.port);
    const url = baseUrl(server.address() as AddressInfo);
    log.info(
      { url, database: db.kind, db: db.displayUrl, status: `${url}/status`, shops: shops.length },
      `stockd listening on ${url} (database: ${db.kind}); status at ${url}/status`,
    );
    if (db.kind === 'pglite')
      log.info(
        'PGlite runs in this one process: for several replicas, use PostgreSQL (DATABASE_URL=postgres://...)',
      );
    sandboxes.startOrders(shops);

    const srv = server;
    // Node closes idle keep-alive connections once, when close() is called; a connection whose
    // request was still running would then stay open until its keep-alive timeout. So while
    // draining, every finished response closes the connections that became idle.
    srv.on('request', (_req, res) => {
      res.on('finish', () => {
        if (draining) setImmediate(() => srv.closeIdleConnections());
      });
    });

    const shutdown = async () => {
      draining = true;
      const started = performance.now();
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdown.graceMs);
      });
      if ((await Promise.race([closed, graceOver])) === 'timeout') {
        log.warn(
          { graceMs: config.shutdown.graceMs },
          'shutdown grace period over; closing connections with requests still running',
        );
        srv.closeAllConnections();
        await closed;
      }
      clearTimeout(timer);
      sandboxes?.stopOrders();
      await stopSync();
      await sandboxes?.stop();
      await inventory.idle();
      await db.close();
      processMonitor.stop();
      unlock();
      log.info({ ms: Math.round(performance.now() - started) }, 'stockd stopped cleanly');
    };
    let stopping: Promise<void> | undefined;
    return {
      url,
      db,
      inventory,
      orders,
      replicaId: engine?.replicaId,
      engine,
      app,
      stop: () => {
        stopping ??= shutdown();
        return stopping;
      },
    };
  } catch (err) {
    await stopSync().catch(() => {});
    await sandboxes?.stop().catch(() => {});
    if (server?.listening) await new Promise((resolve) => server?.close(resolve));
    await db.close().catch(() => {});
    processMonitor.stop();
    unlock();
    throw err;
  }
}

function listen(app: Hono<AppEnv>, hostname: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, () => {
      server.off('error', reject);
      resolve(server as Server);
    });
    server.once('error', reject);
  });
}

function baseUrl(addr: AddressInfo): string {
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}
