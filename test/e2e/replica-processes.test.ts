/**
 * Three real daemon processes (`node --import tsx src/main.ts`) on one PostgreSQL database,
 * pulling three sandbox shops that run in the test process (pulls only, no webhooks, so no
 * replica is special):
 * - the shops are spread over the replicas (at most one each, the fair share of 3 over 3);
 * - every sandbox order is stored once, its stock effects are applied once, and the ledger
 *   reserves exactly what the orders' states ask for;
 * - no platform receives the same quantity twice in a row for a listing ("no push sent twice
 *   for the same change"), and every listing ends at the ledger's available-to-sell;
 * - when the replica holding a shop is SIGKILLed, another takes the shop over within a lease
 *   and a renew interval, and imports its new orders;
 * - the others stop on SIGTERM with exit code 0, giving their leases back.
 *
 * Orders: a backlog generated on every sandbox before the replicas start (the sandboxes' whole
 * mix: promotions, gifts, unpaid, cancelled, refunded, shipped), pulled while the leases are
 * still being spread, then live bursts. TEST_LOG=debug sets the replicas' log level, and
 * DUMP_REPLICA_LOGS=<file> writes all their log lines there at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import type { CanonicalOrder } from '../../src/domain/order.js';
import { lineStockTargets } from '../../src/domain/order-stock.js';
import { createInventory, type Inventory } from '../../src/inventory/index.js';
import { createLogger } from '../../src/log.js';
import { lineKeyOf, Orders, type ShopSettings } from '../../src/orders/index.js';
import type { StatusReport } from '../../src/sync/status.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { freePort, until } from '../support/e2e.js';
import { atsByCode, type SeededCatalog, seedCatalog } from '../support/sync-rig.js';

const LEASE_MS = 3000;
const RENEW_MS = LEASE_MS / 3;
/** Scheduling noise on a loaded two-core machine (three daemons, the sandboxes, PostgreSQL). */
const SLACK_MS = 2000;
/** Orders per shop placed before the replicas start, then live bursts: 3 × 8 + 3 × 3 × 4 = 60. */
const BACKLOG = 8;
const BURSTS = 3;
const BURST = 4;
const POLICY = { reserveOn: 'paid', restockOn: 'receipt' } as const;
/** The one sandbox whose generated orders are dated now (see liveOrders). */
const GENERATED_LIVE = 'shopify-r';
const SHOPS = [
  { id: 'shopify-r', platform: 'shopify', seed: 1 },
  { id: 'tmall-r', platform: 'taobao', seed: 2 },
  { id: 'douyin-r', platform: 'douyin', seed: 3 },
] as const;

type LogLine = Record<string, unknown> & { msg: string; level: number };

interface Replica {
  child: ChildProcess;
  url: string;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const tmp = mkdtempSync(join(tmpdir(), 'stockd-replicas-'));
const replicas: Replica[] = [];
const sessions = new Map<string, SandboxSession>();
let t: TestDb | undefined;
let inv: Inventory | undefined;
let catalog: SeededCatalog;
/** Platform order ids the sandboxes placed, per shop. */
const placed = new Map<string, Set<string>>(SHOPS.map((s) => [s.id, new Set<string>()]));

function spawnReplica(env: Record<string, string>, port: number): Replica {
  const base = { ...process.env };
  for (const k of ['CONFIG', 'DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'LOG_PRETTY', 'ADMIN_TOKEN'])
    delete base[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: { ...base, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      lines.push({ msg: `(not JSON) ${line}`, level: 50 });
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, url: `http://127.0.0.1:${port}`, lines, stderr: () => stderr, exited };
}

const running = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);

/** The replica whose engine has this id (`stockd-<pid>-<random>`, see src/sync/engine.ts). */
function replicaOf(id: string | null): Replica | undefined {
  const pid = Number(/^stockd-(\d+)-/.exec(id ?? '')?.[1]);
  return replicas.find((r) => r.child.pid === pid);
}

async function status(r: Replica): Promise<StatusReport> {
  const res = await fetch(`${r.url}/status`, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`GET /status: ${res.status} ${await res.text()}`);
  return (await res.json()) as StatusReport;
}

async function ready(r: Replica): Promise<boolean> {
  if (r.child.exitCode !== null) throw new Error(`replica exited (${r.child.exitCode}): ${r.stderr()}`);
  try {
    return (await fetch(`${r.url}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

const q = <T>(text: string) => t!.db.withSession((s) => s.query<T>(text));

/** Everything placed is stored, the inbox is empty, and no listing waits for a push. */
async function settled(): Promise<{ missing: number; pending: number; unpushed: number }> {
  const stored = await q<{ shop_id: string; platform_order_id: string }>(
    'SELECT shop_id, platform_order_id FROM sales_order',
  );
  const have = new Set(stored.map((o) => `${o.shop_id}:${o.platform_order_id}`));
  let missing = 0;
  for (const [shop, ids] of placed) for (const id of ids) if (!have.has(`${shop}:${id}`)) missing++;
  // Unpushed counts balance changes and own sales the planner has not planned yet (dirty marks)
  // too: until it has, a listing's outbox row may still say synced at the quantity before them.
  const [row] = await q<{ pending: number; unpushed: number }>(`
    SELECT (SELECT COUNT(*)::int FROM inbox_event WHERE status = 'pending') AS pending,
           (SELECT COUNT(*)::int FROM stock_push WHERE status <> 'synced' OR pushed IS NULL)
             + (SELECT COUNT(*)::int FROM stock_dirty) AS unpushed`);
  return { missing, ...row! };
}

/** Units sold so far by liveOrders (picks the next catalog entries and quantities). */
let sold = 0;

/** Orders placed now, visible to the next pull. */
async function liveOrders(shopId: string, count: number): Promise<number> {
  const session = sessions.get(shopId)!;
  let ids: string[];
  if (shopId === GENERATED_LIVE) ids = await session.generateOrders(count);
  else {
    // The Taobao and Douyin sandboxes date generated orders 1 min to 6 h back, behind a pull's
    // watermark (and its 10-minute overlap): a buyer's order placed now instead, and a cancel.
    const entries = session.catalog();
    ids = [];
    for (let i = 0; i < count; i++) {
      const entry = entries[(sold + i * 5) % entries.length]!;
      ids.push(await session.sell(entry.stockRef, 1 + ((sold + i) % 3)));
    }
    sold += count;
    await session.cancel(ids[0]!);
  }
  for (const id of ids) placed.get(shopId)!.add(id);
  return ids.length;
}

/** The claims on the books and the platforms, checked after every phase. */
async function checkBooks(): Promise<{ listings: number; belowDesired: number }> {
  // Every sandbox order once, nothing else.
  const orders = await q<{ shop_id: string; platform_order_id: string; data: CanonicalOrder }>(
    'SELECT shop_id, platform_order_id, data FROM sales_order',
  );
  const stored = orders.map((o) => `${o.shop_id}:${o.platform_order_id}`).sort();
  const want = [...placed].flatMap(([shop, ids]) => [...ids].map((id) => `${shop}:${id}`)).sort();
  expect(stored).toEqual(want);

  // No stock effect applied twice: movement keys unique, reservations exactly the orders' holds.
  const [mv] = await q<{ n: number; keys: number }>(
    'SELECT COUNT(*)::int AS n, COUNT(DISTINCT idempotency_key)::int AS keys FROM stock_movement',
  );
  expect(mv!.n).toBe(mv!.keys);
  const lines = await q<{
    shop_id: string;
    platform_order_id: string;
    line_id: string;
    sku_id: number | null;
    upi: number;
  }>(`
    SELECT o.shop_id, o.platform_order_id, l.line_id, l.sku_id, l.units_per_item AS upi
    FROM sales_order_line l JOIN sales_order o ON o.id = l.order_id`);
  const held = new Map(
    (
      await q<{ line_key: string; n: number }>(
        `SELECT line_key, SUM(quantity)::int AS n FROM reservation WHERE status = 'active' GROUP BY 1`,
      )
    ).map((r) => [r.line_key, r.n]),
  );
  const wantHeld = new Map<string, number>();
  const wantReserved = new Map<number, number>();
  for (const o of orders) {
    for (const target of lineStockTargets(o.data, POLICY)) {
      const line = lines.find(
        (l) =>
          l.shop_id === o.shop_id &&
          l.platform_order_id === o.platform_order_id &&
          l.line_id === target.lineId,
      );
      expect(line?.sku_id, `${o.shop_id}:${o.platform_order_id}:${target.lineId} mapped`).toBeTypeOf(
        'number',
      );
      const units = target.hold * line!.upi;
      if (units > 0) wantHeld.set(lineKeyOf(o.shop_id, o.platform_order_id, target.lineId), units);
      wantReserved.set(line!.sku_id!, (wantReserved.get(line!.sku_id!) ?? 0) + units);
    }
  }
  expect(held).toEqual(wantHeld);
  const reserved = await q<{ sku_id: number; n: number }>(
    'SELECT sku_id, SUM(reserved)::int AS n FROM stock_level GROUP BY 1',
  );
  for (const r of reserved) expect([r.sku_id, r.n]).toEqual([r.sku_id, wantReserved.get(r.sku_id) ?? 0]);
  expect(await inv!.verify()).toMatchObject({ ok: true });
  const exceptions = await q<{ kind: string; subject: string }>(
    `SELECT kind::text AS kind, subject FROM order_exception
     WHERE status = 'open' AND kind IN ('unmapped_sku', 'oversell', 'parked_event')`,
  );
  expect(exceptions).toEqual([]);

  // No push sent twice for the same change; every platform at the ledger's quantity.
  const ats = await atsByCode(inv!, catalog);
  const pushes = await q<{
    shop_id: string;
    sku: string;
    desired: number;
    pushed: number | null;
    own_since_push: number;
    held_back: number;
    unpaid: number;
  }>(`
    SELECT l.shop_id, s.code AS sku, p.desired, p.pushed, p.own_since_push, p.held_back,
           (SELECT COALESCE(SUM(ol.quantity), 0)::int FROM sales_order o
              JOIN sales_order_line ol ON ol.order_id = o.id
            WHERE o.shop_id = l.shop_id AND ol.sku_id = l.sku_id AND o.status = 'pending_payment') AS unpaid
    FROM stock_push p JOIN listing l ON l.id = p.listing_id JOIN sku s ON s.id = l.sku_id`);
  expect(pushes).toHaveLength(catalog.refs.size);
  const repeated: { key: string; sent: number[] }[] = [];
  let belowDesired = 0;
  for (const [key, ref] of catalog.refs) {
    const [shopId, sku] = key.split(':') as [string, string];
    const session = sessions.get(shopId)!;
    const sent = session
      .stockPushes()
      .filter((p) => p.listing.listingId === ref.listingId && p.listing.locationId === ref.locationId)
      .map((p) => p.quantity);
    if (sent.some((v, i) => i > 0 && sent[i - 1] === v)) repeated.push({ key, sent });
    const row = pushes.find((p) => p.shop_id === shopId && p.sku === sku)!;
    // Default push rules: a listing shows its SKU's ATS in the shop's warehouses...
    expect({ key, desired: row.desired }).toEqual({ key, desired: ats.get(sku) });
    // ...less the units the platform's own unpaid orders took after our last push there
    // (付款减库存: the ledger reserves them once paid; the push guard does not give them back).
    const platform = session.quantity(ref);
    if (platform !== row.desired) belowDesired++;
    const { desired, pushed, own_since_push, held_back, unpaid } = row;
    const seen = { key, platform, pushed, desired, unpaid, own_since_push, held_back };
    expect(seen, 'platform <= pushed <= desired').toSatisfy(
      () => row.pushed !== null && platform <= row.pushed && row.pushed <= row.desired,
    );
    expect(seen, 'only unpaid orders account for a difference').toSatisfy(
      () => row.desired - platform <= row.unpaid,
    );
  }
  expect(repeated).toEqual([]);
  return { listings: catalog.refs.size, belowDesired };
}

describe.skipIf(!onPostgres)(
  'replica processes on one PostgreSQL (PostgreSQL only: PGlite is single-process)',
  () => {
    beforeAll(async () => {
      for (const s of SHOPS)
        sessions.set(
          s.id,
          await (await getConnector(s.platform).sandbox()).start({ seed: s.seed, relaxedRateLimits: true }),
        );
      // The books are opened here first: shops, catalog, opening stock, and a backlog of orders
      // (generated with the sandboxes' whole mix: promotions, gifts, refunds, shipments) for the
      // replicas' first pulls, which run while the leases are still being spread.
      t = await createTestDb();
      inv = createInventory(t.db);
      const settings: ShopSettings[] = SHOPS.map((s) => ({
        id: s.id,
        platform: s.platform,
        warehouses: ['MAIN'],
        matchOuterId: false,
        ...POLICY,
      }));
      const orders = new Orders(inv, settings, createLogger({ level: 'silent', pretty: false }));
      await orders.registerShops();
      catalog = await seedCatalog(
        inv,
        orders,
        SHOPS.map((s) => ({ id: s.id, session: sessions.get(s.id)! })),
        { openingStock: 200 },
      );
      for (const s of SHOPS)
        for (const id of await sessions.get(s.id)!.generateOrders(BACKLOG)) placed.get(s.id)!.add(id);

      const configFile = join(tmp, 'replicas.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          sync: {
            pullCron: '* * * * * *',
            leaseMs: LEASE_MS,
            inboxIdleMs: 50,
            pushIdleMs: 50,
            // No read-back reconciliation mid-test: pushes come from orders only.
            reconcileCron: '0 0 0 1 1 *',
          },
          database: { poolSize: 4 },
          shutdown: { graceMs: 2000 },
          shops: SHOPS.map((s) => ({
            id: s.id,
            platform: s.platform,
            warehouses: ['MAIN'],
            matchOuterId: false,
            connector: sessions.get(s.id)!.config,
          })),
        }),
      );
      for (let i = 0; i < 3; i++)
        replicas.push(
          spawnReplica(
            {
              CONFIG: configFile,
              DATABASE_URL: t.url!,
              HOST: '127.0.0.1',
              LOG_LEVEL: process.env.TEST_LOG ?? 'warn',
            },
            await freePort(),
          ),
        );
      for (const r of replicas) await until('replica ready', () => ready(r), Boolean, 45_000);
    }, 90_000);

    afterAll(async () => {
      for (const r of running()) r.child.kill('SIGKILL');
      await Promise.all(replicas.map((r) => r.exited));
      for (const s of sessions.values()) await s.stop();
      await inv?.idle();
      await t?.drop();
      rmSync(tmp, { recursive: true, force: true });
      if (process.env.DUMP_REPLICA_LOGS)
        writeFileSync(
          process.env.DUMP_REPLICA_LOGS,
          replicas.flatMap((r) => r.lines.map((l) => JSON.stringify(l))).join('\n'),
        );
      const noisy = replicas.flatMap((r) =>
        r.lines.filter((l) => l.level >= 40).map((l) => `${r.child.pid}: ${JSON.stringify(l)}`),
      );
      if (noisy.length > 0) console.log(`replica warnings and errors:\n${noisy.slice(0, 40).join('\n')}`);
    });

    it('lists the three replicas and spreads the shops, one each', async () => {
      const s = await until(
        'shops spread over the replicas',
        () => status(replicas[0]!),
        // Both views: the report's queries are separate statements, so one round may see a lease
        // given back in one and not yet in the other.
        (s) =>
          s.replicas.length === 3 &&
          s.replicas.every((r) => r.shops <= Math.ceil(SHOPS.length / 3)) &&
          s.shops.every((shop) => shop.leaseOwner !== null) &&
          new Set(s.shops.map((shop) => shop.leaseOwner)).size === 3,
      );
      expect(new Set(s.replicas.map((r) => replicaOf(r.id)))).toEqual(new Set(replicas));
      expect(new Set(s.shops.map((shop) => shop.leaseOwner)).size).toBe(3);
      // Any replica tells the same story.
      expect((await status(replicas[2]!)).shops.map((shop) => shop.leaseOwner)).toEqual(
        s.shops.map((shop) => shop.leaseOwner),
      );
    });

    it('applies every order once and pushes each change once, to the ledger quantity', async () => {
      for (let burst = 0; burst < BURSTS; burst++) {
        for (const s of SHOPS) await liveOrders(s.id, BURST);
        await new Promise((r) => setTimeout(r, 500));
      }
      await until(
        'orders applied and pushed',
        settled,
        (s) => s.missing === 0 && s.pending === 0 && s.unpushed === 0,
      );
      await checkBooks();
    });

    it('a surviving replica takes over the shop of a SIGKILLed one and imports its new orders', async () => {
      const shopId = SHOPS[0].id;
      const [before] = await q<{ owner: string }>(
        `SELECT lease_owner AS owner FROM shop WHERE id = '${shopId}'`,
      );
      const victim = replicaOf(before!.owner)!;
      expect(victim).toBeDefined();
      const survivors = replicas.filter((r) => r !== victim);
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
      // Read once the victim is gone: its last renewal set this.
      const [lease] = await q<{ until: Date }>(
        `SELECT lease_until AS until FROM shop WHERE id = '${shopId}'`,
      );
      const orders = await liveOrders(shopId, 10);
      expect(orders).toBeGreaterThan(0);

      const owner = await until(
        'the shop taken over',
        async () => (await status(survivors[0]!)).shops.find((s) => s.id === shopId)!.leaseOwner,
        (o) => o !== null && survivors.includes(replicaOf(o)!),
        20_000,
      );
      const takeoverMs = Date.now() - killedAt;
      const afterExpiryMs = Date.now() - new Date(lease!.until).getTime();
      await until('new orders applied', settled, (s) => s.missing === 0 && s.pending === 0, 20_000);
      const appliedMs = Date.now() - killedAt;
      await until('new orders pushed', settled, (s) => s.unpushed === 0);

      const pushes = [...sessions.values()].reduce((n, x) => n + x.stockPushes().length, 0);
      const total = [...placed.values()].reduce((n, ids) => n + ids.size, 0);
      console.log(
        `replica-processes: ${total} orders, ${pushes} pushes accepted; ${shopId} taken over ${takeoverMs} ms ` +
          `after SIGKILL (${afterExpiryMs} ms after its lease ran out; lease ${LEASE_MS} ms, renew ` +
          `${RENEW_MS} ms), its ${orders} new orders applied ${appliedMs} ms after SIGKILL`,
      );
      expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + RENEW_MS + SLACK_MS);
      expect(afterExpiryMs).toBeLessThanOrEqual(RENEW_MS + SLACK_MS);
      const s = await status(survivors[1]!);
      expect(s.shops.find((x) => x.id === shopId)!.leaseOwner).toBe(owner);
      expect(s.replicas.filter((r) => r.shops > 0).map((r) => replicaOf(r.id))).not.toContain(victim);
      const books = await checkBooks();
      console.log(
        `replica-processes: ${books.listings - books.belowDesired}/${books.listings} listings show the ` +
          `ledger's quantity, ${books.belowDesired} less by their shop's unpaid orders`,
      );
    });

    it('the others stop on SIGTERM with exit code 0 and give their leases back', async () => {
      const alive = running();
      expect(alive).toHaveLength(2);
      for (const r of alive) r.child.kill('SIGTERM');
      for (const r of alive) expect(await r.exited).toEqual({ code: 0, signal: null });
      for (const r of alive) expect(r.stderr()).toBe('');
      const held = await q<{ id: string; owner: string | null }>(
        'SELECT id, lease_owner AS owner FROM shop WHERE lease_owner IS NOT NULL',
      );
      expect(held).toEqual([]);
      // Only the killed replica's heartbeat may be left (the others delete it 3 leases after it died).
      const left = await q<{ id: string }>('SELECT id FROM replica');
      expect(left.map((r) => replicaOf(r.id)).filter((r) => r && alive.includes(r))).toEqual([]);
    });
  },
);
