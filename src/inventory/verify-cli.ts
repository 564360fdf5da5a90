// `npm run db:verify`: checks the ledger invariants over the whole database named by the
// config (DATABASE_URL) and prints every violation. Exit 0 when all hold, 1 on a violation
// or error, 2 on invalid configuration.
import { loadConfigOrExit } from '../config.js';
import { openDatabase } from '../db/client.js';
import { pendingMigrations } from '../db/migrate.js';
import { createInventory } from './index.js';

const config = loadConfigOrExit('db:verify');

const db = await openDatabase(config.database.url, {
  poolSize: 2,
  pgliteSharedBuffersMb: config.database.pgliteSharedBuffersMb,
});
let code = 0;
try {
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    throw new Error(`the database is not migrated (pending: ${pending.join(', ')}); run npm run db:migrate`);
  }
  const report = await createInventory(db).verify();
  console.log(`database: ${db.displayUrl}`);
  console.log(`checked ${report.checkedLevels} stock levels`);
  for (const v of report.violations) {
    console.log(
      `VIOLATION ${v.rule}: sku ${v.skuCode} (#${v.skuId}) warehouse #${v.warehouseId}: expected ${v.expected}, found ${v.actual}`,
    );
  }
  console.log(report.ok ? 'all invariants hold' : `${report.violations.length} violation(s)`);
  code = report.ok ? 0 : 1;
} catch (err) {
  console.error(`db:verify: failed: ${(err as Error).message}`);
  code = 1;
} finally {
  await db.close();
}
process.exit(code);
