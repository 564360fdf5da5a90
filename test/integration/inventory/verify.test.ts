import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/client.js';
import { migrate } from '../../../src/db/migrate.js';
import { createInventory } from '../../../src/inventory/index.js';
import { onPostgres } from '../../support/db.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

// verify() must find what the service would never write but a bug, a manual SQL edit or a
// restored backup could: balances that disagree with the ledger or with the reservations.

let f: InventoryFixture;
beforeAll(async () => {
  f = await inventoryFixture();
});
afterAll(async () => {
  await f.close();
});

describe('verify', () => {
  it('reports each broken invariant with its SKU, warehouse, expected and actual values', async () => {
    const wh = await f.warehouse('V');
    const good = await f.sku('V-GOOD');
    const drift = await f.sku('V-DRIFT');
    const ghost = await f.sku('V-GHOST');
    await f.receive(good, wh, 5);
    await f.receive(drift, wh, 5);
    await f.inv.reservations.reserve({
      key: 'v-r',
      lines: [{ lineKey: 'v:1', skuId: good, quantity: 2 }],
      warehouseIds: [wh],
    });
    expect(await f.inv.verify()).toMatchObject({ ok: true, violations: [] });

    const sql = f.t.db.prisma;
    // A balance edited behind the ledger's back, and a reservation whose units were never counted.
    await sql.$executeRaw`UPDATE stock_level SET on_hand = 7 WHERE sku_id = ${drift}`;
    await sql.$executeRaw`
      INSERT INTO reservation (line_key, line_sku_id, sku_id, warehouse_id, quantity) VALUES ('ghost:1', ${ghost}, ${ghost}, ${wh}, 3)`;
    const report = await f.inv.verify();
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([
      {
        rule: 'on_hand_equals_ledger',
        skuId: drift,
        skuCode: 'V-DRIFT',
        warehouseId: wh,
        expected: 5,
        actual: 7,
      },
      {
        rule: 'reserved_equals_active_reservations',
        skuId: ghost,
        skuCode: 'V-GHOST',
        warehouseId: wh,
        expected: 3,
        actual: 0,
      },
    ]);
  });

  it('`npm run db:verify` prints the violations and exits 1', async () => {
    let url = f.t.url!;
    let dir: string | undefined;
    if (!onPostgres) {
      // The fixture's PGlite lives in memory; the CLI needs a data directory of its own.
      dir = mkdtempSync(join(tmpdir(), 'stockd-verify-'));
      url = `pglite:${dir}`;
      const db = await openDatabase(url);
      await migrate(db);
      const inv = createInventory(db);
      const wh = (await inv.catalog.putWarehouse({ code: 'V', name: 'v' })).id;
      const drift = (await inv.catalog.putSku({ code: 'V-DRIFT', name: 'v' })).id;
      await inv.ledger.receive({ key: 'v-rcv', skuId: drift, warehouseId: wh, quantity: 5 });
      await db.prisma.$executeRaw`UPDATE stock_level SET on_hand = 7 WHERE sku_id = ${drift}`;
      await db.close();
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url };
    delete env.CONFIG;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/inventory/verify-cli.ts'], {
      env,
      encoding: 'utf8',
    });
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(r.stdout).toMatch(/VIOLATION on_hand_equals_ledger: sku V-DRIFT .* expected 5, found 7/);
    expect(r.stdout).toMatch(/violation\(s\)/);
    expect(r.status).toBe(1);
  });
});
