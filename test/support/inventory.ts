import { createInventory, type Inventory } from '../../src/inventory/index.js';
import { createTestDb, type TestDb } from './db.js';

export interface InventoryFixture {
  t: TestDb;
  inv: Inventory;
  /** Creates a simple SKU and returns its id. */
  sku(code: string, opts?: { safetyStock?: number }): Promise<number>;
  warehouse(code: string): Promise<number>;
  /** Receives `qty` units; the key is derived from a counter so each call is a new receipt. */
  receive(skuId: number, warehouseId: number, qty: number): Promise<void>;
  close(): Promise<void>;
}

let seq = 0;

export async function inventoryFixture(): Promise<InventoryFixture> {
  const t = await createTestDb();
  const inv = createInventory(t.db);
  return {
    t,
    inv,
    sku: async (code, opts) => (await inv.catalog.putSku({ code, name: `SKU ${code}`, ...opts })).id,
    warehouse: async (code) => (await inv.catalog.putWarehouse({ code, name: `WH ${code}` })).id,
    receive: async (skuId, warehouseId, quantity) => {
      await inv.ledger.receive({ key: `fixture-receipt-${++seq}`, skuId, warehouseId, quantity });
    },
    close: async () => {
      await inv.idle();
      await t.drop();
    },
  };
}
