/**
 * `npm run db:migrate`: applies pending migrations to the configured database and exits.
 *
 * The database is `database.url` of the configuration (src/config.ts: env `DATABASE_URL`, else
 * the file named by `CONFIG`, else embedded PGlite in ./data/pglite). Prints each migration as
 * applied or already applied. Exit codes: 0 on success; 1 when migrating failed (the message
 * names the migration, see {@link migrate}); 2 for invalid configuration, as `npm start` does.
 */
import { loadConfigOrExit } from '../config.js';
import { openDatabase } from './client.js';
import { migrate } from './migrate.js';

const config = loadConfigOrExit('db:migrate');

try {
  const db = await openDatabase(config.database.url, {
    poolSize: 1,
    pgliteSharedBuffersMb: config.database.pgliteSharedBuffersMb,
  });
  try {
    process.stdout.write(`db:migrate: ${db.displayUrl}\n`);
    const report = await migrate(db);
    for (const name of report.alreadyApplied) process.stdout.write(`  already applied  ${name}\n`);
    for (const name of report.applied) process.stdout.write(`  applied          ${name}\n`);
    process.stdout.write(
      `db:migrate: ${report.applied.length} applied, ${report.alreadyApplied.length} already applied\n`,
    );
  } finally {
    await db.close();
  }
} catch (err) {
  process.stderr.write(`db:migrate: failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
