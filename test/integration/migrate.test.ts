import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import {
  MigrationError,
  type MigrationFile,
  migrate,
  pendingMigrations,
  readMigrations,
} from '../../src/db/migrate.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';

describe('migration runner', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb({ migrate: false });
  });
  afterAll(async () => {
    await t.drop();
  });

  it('applies every migration once and records it as prisma migrate deploy does', async () => {
    const first = await migrate(t.db);
    expect(first.applied).toEqual(readMigrations().map((m) => m.name));
    const second = await migrate(t.db);
    expect(second.applied).toEqual([]);
    expect(await pendingMigrations(t.db)).toEqual([]);
    const rows = await t.db.withSession((s) =>
      s.query<{ checksum: string; applied_steps_count: number; finished_at: Date | null }>(
        'SELECT checksum, applied_steps_count, finished_at FROM "_prisma_migrations"',
      ),
    );
    expect(rows.map((r) => r.checksum)).toEqual(readMigrations().map((m) => m.checksum));
    expect(rows.every((r) => r.applied_steps_count === 1 && r.finished_at !== null)).toBe(true);
  });
});

/** A synthetic migration, checksummed as readMigrations() does. */
function migration(name: string, sql: string): MigrationFile {
  return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
}

async function tables(db: Db): Promise<string[]> {
  const rows = await db.withSession((s) =>
    s.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables
        WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations' ORDER BY 1`,
    ),
  );
  return rows.map((r) => r.name);
}

/** `_prisma_migrations` rows as `name` (finished) or `name (unfinished)`, in start order. */
async function records(db: Db): Promise<string[]> {
  const rows = await db.withSession((s) =>
    s.query<{ migration_name: string; finished_at: Date | null }>(
      'SELECT migration_name, finished_at FROM "_prisma_migrations" ORDER BY started_at, migration_name',
    ),
  );
  return rows.map((r) => (r.finished_at ? r.migration_name : `${r.migration_name} (unfinished)`));
}

async function migrationError(p: Promise<unknown>): Promise<MigrationError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrationError);
  return err as MigrationError;
}

describe('migration runner refuses and rolls back', () => {
  // Each case gets its own unmigrated database and feeds migrate() a synthetic list.
  let t: TestDb | undefined;
  afterEach(async () => {
    await t?.drop();
    t = undefined;
  });

  const a = migration('20260101000000_a', 'CREATE TABLE "a" ("id" INTEGER);');
  const b = migration('20260102000000_b', 'CREATE TABLE "b" ("id" INTEGER);');
  const c = migration('20260103000000_c', 'CREATE TABLE "c" ("id" INTEGER);');

  it('a migration whose file changed after it was applied: throws naming it, applies nothing', async () => {
    t = await createTestDb({ migrate: false });
    await migrate(t.db, [a, b]);
    const edited = migration(b.name, `${b.sql}\nALTER TABLE "b" ADD COLUMN "note" TEXT;`);

    const err = await migrationError(migrate(t.db, [a, edited, c]));
    expect(err.message).toContain(b.name);
    expect(err.message).toContain('modified after it was applied');
    expect(await tables(t.db)).toEqual(['a', 'b']);
    expect(await records(t.db)).toEqual([a.name, b.name]);
  });

  it('a changed file is refused even when a pending migration sorts before it', async () => {
    // b was added to the code after c had been deployed (a merge of two branches).
    t = await createTestDb({ migrate: false });
    await migrate(t.db, [a, c]);
    const edited = migration(c.name, `${c.sql}\n-- edited`);

    const err = await migrationError(migrate(t.db, [a, b, edited]));
    expect(err.message).toContain(c.name);
    expect(await tables(t.db)).toEqual(['a', 'c']);
    expect(await records(t.db)).toEqual([a.name, c.name]);
  });

  it('a failing migration rolls back completely, names itself, and can be retried once fixed', async () => {
    t = await createTestDb({ migrate: false });
    const broken = migration(
      '20260102000000_broken',
      `CREATE TABLE "half" ("id" INTEGER);
       INSERT INTO "half" VALUES (1);
       CREATE INDEX "half_missing_idx" ON "half" ("missing");`,
    );

    const err = await migrationError(migrate(t.db, [a, broken, c]));
    expect(err.message).toContain(broken.name);
    expect(err.message).toContain('"missing" does not exist');
    expect(err.cause).toBeInstanceOf(Error);
    // a ran in its own, committed transaction; nothing of broken or after it is left.
    expect(await tables(t.db)).toEqual(['a']);
    expect(await records(t.db)).toEqual([a.name]);

    const fixed = migration(broken.name, 'CREATE TABLE "half" ("id" INTEGER);');
    const report = await migrate(t.db, [a, fixed, c]);
    expect(report).toEqual({ applied: [fixed.name, c.name], alreadyApplied: [a.name] });
    expect(await tables(t.db)).toEqual(['a', 'c', 'half']);
  });

  it('a database holding a migration this code does not know is refused', async () => {
    t = await createTestDb({ migrate: false });
    await migrate(t.db, [a, b]);

    const err = await migrationError(migrate(t.db, [a, c]));
    expect(err.message).toContain(b.name);
    expect(err.message).not.toContain(c.name);
    expect(await tables(t.db)).toEqual(['a', 'b']);
    expect(await records(t.db)).toEqual([a.name, b.name]);
  });

  it.skipIf(!onPostgres)('two replicas migrating at once apply each migration exactly once', async () => {
    t = await createTestDb({ migrate: false });
    const [r1, r2] = [await t.openReplica(), await t.openReplica()];
    // Not idempotent on purpose: a second run of any of these fails (CREATE TABLE, primary key),
    // and the sleeps keep the first runner busy while the second one arrives.
    const files = [
      migration(
        '20260101000000_log',
        `CREATE TABLE "runs" ("migration" TEXT PRIMARY KEY, "pid" INTEGER NOT NULL);
         INSERT INTO "runs" VALUES ('log', pg_backend_pid());
         SELECT pg_sleep(0.2);`,
      ),
      migration(
        '20260102000000_two',
        `INSERT INTO "runs" VALUES ('two', pg_backend_pid()); SELECT pg_sleep(0.2);`,
      ),
      migration('20260103000000_three', `INSERT INTO "runs" VALUES ('three', pg_backend_pid());`),
    ];
    const names = files.map((f) => f.name);

    const reports = await Promise.all([migrate(r1, files), migrate(r2, files)]);

    expect(reports.flatMap((r) => r.applied).sort()).toEqual(names);
    for (const r of reports) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(names);
    expect(await records(t.db)).toEqual(names);
    const runs = await t.db.withSession((s) =>
      s.query<{ migration: string }>('SELECT "migration" FROM "runs" ORDER BY "migration"'),
    );
    expect(runs.map((r) => r.migration)).toEqual(['log', 'three', 'two']);
  });
});
