// Reproductions of the two ways the chaos run found a Shopify listing left permanently below the
// quantity the ledger wants (the re-inflation guard holding back units nobody sold). Not a test:
// `npx tsx test/chaos/repro-held-back.ts [cancel|crash|same-second]` prints what happens step by step and
// exits 1 while the bug is there. TEST_DATABASE_URL picks PostgreSQL (default: PGlite in memory).
//
// cancel: a cancellation gives units back on the platform before a push and is imported after it.
//   The push reads the platform (units already back), clamps "unimported" at 0, and pushes; the
//   cancellation's import then subtracts the units from own_since_push a second time, so the
//   next push holds them back as "sold on the platform, not imported" - for good, because every
//   reconciliation re-pushes the listing and resets held_back_at, so the grace never runs out.
// crash: the daemon dies after Shopify accepted a push and before the push was recorded (no
//   attempt_qty is written before the call, only in the error path). If the quantity to show
//   changes before the next push, that push takes its own landed push for unimported sales and
//   holds the difference back (when it does not change, the reconciliation heals it: the
//   platform then shows exactly the desired quantity).
// same-second: not a held-back case but found on the way (see sameSecondScenario): a pulled
//   revision in the same second as the previous one is dropped as a duplicate.
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { until } from '../support/e2e.js';
import { startRig } from '../support/sync-rig.js';

const which = process.argv[2] ?? 'cancel';
const A = 'shopify-a';
const B = 'tmall-b';

interface Row {
  desired: number;
  pushed: number | null;
  own_since_push: number;
  held_back: number;
  held_back_at: string | null;
  status: string;
}

async function cancelScenario(): Promise<boolean> {
  const rig = await startRig({
    shops: [
      { id: A, platform: 'shopify', seed: 5, webhooks: false },
      { id: B, platform: 'taobao', seed: 6 },
    ],
    skuCount: 1,
    openingStock: 100,
    sync: { pullCron: '0 0 0 1 1 *', reconcileCron: '0 0 0 1 1 *' },
  });
  try {
    const engine = rig.daemon.engine!;
    const a = rig.sessions.get(A)!;
    const b = rig.sessions.get(B)!;
    const refA = rig.refs.get(`${A}:SKU-1`)!;
    const refB = rig.refs.get(`${B}:SKU-1`)!;
    const row = async () =>
      (
        await rig.q<Row>(`SELECT p.desired, p.pushed, p.own_since_push, p.held_back, p.held_back_at::text AS held_back_at,
                                 p.status::text AS status
                          FROM stock_push p JOIN listing l ON l.id = p.listing_id WHERE l.shop_id = '${A}'`)
      )[0];
    const settled = (what: string, want: number) =>
      until(
        what,
        async () => ({ row: await row(), shows: rig.platformQuantity(A, 'SKU-1') }),
        (v) => v.row?.status === 'synced' && v.shows === want,
        20_000,
      );
    const show = async (step: string) =>
      console.log(
        `${step}\n    ${A} shows ${rig.platformQuantity(A, 'SKU-1')}; stock_push ${JSON.stringify(await row())}`,
      );

    await settled('opening stock pushed to A', 100);
    await show('1. opening stock 100 pushed');
    const x = await a.sell(refA, 3);
    await engine.pull(A);
    await settled('A shows 97', 97);
    await show(`2. order ${x} (3 units) on A, pulled and reserved`);
    // Shopify's updated_at has whole seconds, and a pull stores one inbox row per (order,
    // updated_at): a cancellation in the same second would be dropped as a re-read (see same-second).
    await new Promise((r) => setTimeout(r, 1100));
    await a.cancel(x);
    await show(`3. order ${x} cancelled on A (its 3 units back on the platform), not imported yet`);
    await b.sell(refB, 1, { notify: true });
    await settled('A shows 96', 96);
    await show('4. 1 unit sold on B: A is pushed 96 (read back 100, nothing unimported)');
    await engine.pull(A);
    await until('the push settles', row, (r) => r?.status === 'synced' && r.desired === 99, 20_000).catch(
      () => {},
    );
    await new Promise((r) => setTimeout(r, 2000));
    await show(`5. the cancellation of ${x} imported: 3 units free again, the ledger wants 99 on A`);
    const before = (await row())?.held_back_at;
    await engine.reconcile(A);
    await new Promise((r) => setTimeout(r, 2000));
    await show('6. a reconciliation');
    const after = (await row())?.held_back_at;
    const shows = rig.platformQuantity(A, 'SKU-1');
    const ats = (await rig.ats()).get('SKU-1');
    console.log(
      `\nA shows ${shows}, the ledger's ATS is ${ats}: ${shows === ats ? 'OK' : `${ats! - shows} unit(s) held back that nobody sold`}` +
        (before && after && before !== after
          ? `; held_back_at moved from ${before} to ${after} (the grace restarts)`
          : ''),
    );
    return shows === ats;
  } finally {
    await rig.stop();
  }
}

/**
 * A revision in the same second as the one before it, seen only by pulls: the pull's inbox
 * dedupe key is `pull:<order>:<platformModifiedAt>:<platformVersion>`, and Shopify's updated_at
 * (like Taobao's modified) has whole seconds, so the cancellation is dropped as a re-read of the
 * paid revision, on this pull and on every later one.
 */
async function sameSecondScenario(): Promise<boolean> {
  const rig = await startRig({
    shops: [{ id: A, platform: 'shopify', seed: 5, webhooks: false }],
    skuCount: 1,
    openingStock: 100,
    sync: { pullCron: '0 0 0 1 1 *', reconcileCron: '0 0 0 1 1 *' },
  });
  try {
    const engine = rig.daemon.engine!;
    const a = rig.sessions.get(A)!;
    const refA = rig.refs.get(`${A}:SKU-1`)!;
    const { getConnector } = await import('../../connectors/registry.js');
    const axios = (await import('axios')).default;
    const { pino } = await import('pino');
    const connector = getConnector('shopify').create(a.config, {
      http: axios.create(),
      log: pino({ level: 'silent' }),
      clock: { now: () => new Date() },
    });
    const stored = async (id: string) =>
      (
        await rig.q<{ status: string; m: string }>(
          `SELECT status::text AS status, platform_modified_at::text AS m FROM sales_order WHERE platform_order_id = '${id}'`,
        )
      )[0];
    let x = '';
    for (let tries = 0; tries < 5; tries++) {
      // Start right after a second turns, so the sale, its pull and the cancellation share it.
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      x = await a.sell(refA, 1);
      await engine.pull(A);
      await a.cancel(x);
      const paid = await stored(x);
      const now = await connector.fetchOrder(x);
      console.log(
        `order ${x}: pulled as ${paid?.status} (modified ${paid?.m}); on Shopify now ${now?.status} (modified ${now?.platformModifiedAt})`,
      );
      if (paid && now && Date.parse(paid.m) === Date.parse(now.platformModifiedAt!)) break;
    }
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      await engine.pull(A);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const final = await stored(x);
    const platform = await connector.fetchOrder(x);
    console.log(`\nafter 3 more pulls: stored ${final?.status}, platform ${platform?.status}`);
    return final?.status === platform?.status;
  } finally {
    await rig.stop();
  }
}

/**
 * The crash window, made deterministic: the daemon is a child process whose Shopify calls go
 * through a proxy; the proxy lets one `inventorySetQuantities` reach the sandbox, waits for its
 * answer (so the push has landed) and SIGKILLs the daemon before passing the answer on.
 */
async function crashScenario(): Promise<boolean> {
  const { getConnector } = await import('../../connectors/registry.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { freePort } = await import('../support/e2e.js');
  const pg = await import('pg');
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl?.startsWith('postgres'))
    throw new Error('crash needs TEST_DATABASE_URL (a PostgreSQL server)');
  const tmp = mkdtempSync(join(tmpdir(), 'stockd-repro-'));
  const name = `chaos_repro_${Date.now().toString(36)}`;
  const admin = new pg.default.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const dbUrl = Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const shopify = await (await getConnector('shopify').sandbox()).start({ seed: 5, relaxedRateLimits: true });
  const taobao = await (await getConnector('taobao').sandbox()).start({
    seed: 6,
    relaxedRateLimits: true,
    webhookUrl: `${url}/webhooks/taobao/${B}`,
  });
  let child: ChildProcess | undefined;
  let armed = false;
  let killedAt: string | undefined;
  const spawnDaemon = () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: resolve(import.meta.dirname, '../..'),
      env: { ...process.env, CONFIG: join(tmp, 'config.json'), DATABASE_URL: dbUrl, LOG_LEVEL: 'warn' },
      stdio: 'inherit',
    });
  };
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers.host;
      const up = http.request(`${shopify.url}${req.url}`, { method: req.method, headers }, (ur) => {
        const got: Buffer[] = [];
        ur.on('data', (c: Buffer) => got.push(c));
        ur.on('end', () => {
          if (body.includes('inventorySetQuantities')) {
            const q = /"quantity":(\d+)/.exec(body.toString())?.[1];
            const from = /"changeFromQuantity":(null|\d+)/.exec(body.toString())?.[1];
            const delta = /"delta":(-?\d+)/.exec(Buffer.concat(got).toString())?.[1];
            const err = /"userErrors":\[([^\]]*)\]/.exec(Buffer.concat(got).toString())?.[1];
            console.log(
              `   ${new Date().toISOString()} push to ${A}: set ${q} expecting ${from} -> delta ${delta} ${err ? `errors ${err}` : ''}`,
            );
          }
          if (armed && body.includes('inventorySetQuantities') && body.includes('"quantity":98')) {
            armed = false;
            killedAt = new Date().toISOString();
            child?.kill('SIGKILL');
            child?.once('exit', () => spawnDaemon());
            res.destroy();
            return;
          }
          res.writeHead(ur.statusCode ?? 502, ur.headers).end(Buffer.concat(got));
        });
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  writeFileSync(
    join(tmp, 'config.json'),
    JSON.stringify({
      server: { host: '127.0.0.1', port },
      sync: {
        pullCron: '*/2 * * * * *',
        leaseMs: 3000,
        inboxIdleMs: 50,
        pushIdleMs: 50,
        reconcileCron: '*/10 * * * * *',
      },
      shops: [
        {
          id: A,
          platform: 'shopify',
          warehouses: ['MAIN'],
          matchOuterId: false,
          connector: { ...(shopify.config as object), baseUrl: proxyUrl },
        },
        { id: B, platform: 'taobao', warehouses: ['MAIN'], matchOuterId: false, connector: taobao.config },
      ],
    }),
  );
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  try {
    spawnDaemon();
    await until(
      'daemon ready',
      () =>
        fetch(`${url}/readyz`).then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200,
      60_000,
    );
    const ea = shopify.catalog()[0]!;
    const eb = taobao.catalog()[0]!;
    await api('PUT', '/warehouses/MAIN', { name: 'main' });
    await api('PUT', '/skus/SKU-1', { name: 'SKU-1' });
    await api('POST', '/stock/receipts', { key: 'open', sku: 'SKU-1', warehouse: 'MAIN', quantity: 100 });
    for (const [shopId, e] of [
      [A, ea],
      [B, eb],
    ] as const)
      await api('PUT', '/listings', {
        shopId,
        platformItemId: e.platformItemId,
        ...(e.platformSkuId ? { platformSkuId: e.platformSkuId } : {}),
        sku: 'SKU-1',
        stockRef: e.stockRef,
      });
    await until(
      'A shows 100',
      () => shopify.quantity(ea.stockRef),
      (q) => q === 100,
      30_000,
    );
    console.log(`1. opening stock 100 pushed to ${A}`);
    armed = true;
    await taobao.sell(eb.stockRef, 2, { notify: true }).catch(() => {});
    await until(
      'the push to A landed and the daemon was killed',
      () => killedAt,
      (k) => k !== undefined,
      30_000,
    );
    console.log(
      `2. 2 units sold on ${B}: the push of 98 reached ${A} (it shows ${shopify.quantity(ea.stockRef)}); daemon SIGKILLed at ${killedAt} before recording it`,
    );
    await until(
      'daemon ready again',
      () =>
        fetch(`${url}/readyz`).then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200,
      60_000,
    );
    await taobao.sell(eb.stockRef, 1, { notify: true });
    console.log(
      `3. restarted; 1 more unit sold on ${B} (the ledger wants 97 on ${A} now); waiting for the claimed outbox row (60 s claim) to be pushed again`,
    );
    const status = async () =>
      (
        (await api('GET', `/push?shopId=${A}`)) as {
          items: { desired: number; status: string; heldBack: number; pushed: number }[];
        }
      ).items[0]!;
    await new Promise((r) => setTimeout(r, 75_000));
    const s = await status();
    const shows = shopify.quantity(ea.stockRef);
    console.log(`4. ${A} shows ${shows}; stock_push ${JSON.stringify(s)}`);
    console.log(
      `\n${A} shows ${shows}, the ledger wants ${s.desired}: ${shows === s.desired ? 'OK' : `${s.desired - shows} unit(s) held back that nobody sold`}`,
    );
    return shows === s.desired;
  } finally {
    child?.removeAllListeners('exit');
    child?.kill('SIGKILL');
    proxy.close();
    await shopify.stop();
    await taobao.stop();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const ok =
  which === 'crash'
    ? await crashScenario()
    : which === 'same-second'
      ? await sameSecondScenario()
      : await cancelScenario();
process.exit(ok ? 0 : 1);
