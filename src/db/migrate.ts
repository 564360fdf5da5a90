import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, SqlSession } from './client.js';

/** prisma/migrations, found from this file so the CLI works from any working directory. */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');

/** The advisory lock id `prisma migrate deploy` takes, so our runner and Prisma's exclude each other. */
const PRISMA_MIGRATE_LOCK_ID = 72707369;

// Prisma's own DDL for its bookkeeping table, so `prisma migrate status|deploy` read our records.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 hex of the file's bytes, as Prisma records it. */
  checksum: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export function readMigrations(dir = MIGRATIONS_DIR): MigrationFile[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, 'migration.sql'));
      return {
        name,
        sql: bytes.toString('utf8'),
        checksum: createHash('sha256').update(bytes).digest('hex'),
      };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies pending migrations in name order, each in its own transaction, recording them in
 * `_prisma_migrations` as `prisma migrate deploy` does. Refuses to run when an applied
 * migration's file changed (checksum), when one failed earlier and was not resolved, or when
 * the database has migrations this code does not know (a newer version ran against it).
 * Safe to call from several replicas at once: they serialize on Prisma's advisory lock.
 */
export async function migrate(db: Db, files: MigrationFile[] = readMigrations()): Promise<MigrationReport> {
  return db.withSession(async (s) => {
    await s.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_ID]);
    try {
      return await applyPending(s, files);
    } finally {
      await s.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_ID]);
    }
  });
}

async function applyPending(s: SqlSession, files: MigrationFile[]): Promise<MigrationReport> {
  await s.exec(CREATE_MIGRATIONS_TABLE);
  const rows = await s.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
  );
  const done = new Map<string, AppliedRow>();
  for (const row of rows) {
    if (row.rolled_back_at) continue;
    if (!row.finished_at) {
      throw new MigrationError(
        `migration ${row.migration_name} started but did not finish; fix the database, then mark it ` +
          'rolled back (prisma migrate resolve --rolled-back) before starting again',
      );
    }
    done.set(row.migration_name, row);
  }
  const known = new Set(files.map((f) => f.name));
  const unknown = [...done.keys()].filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new MigrationError(
      `the database has migrations this version does not know: ${unknown.join(', ')} (is a newer version deployed?)`,
    );
  }
  // Check every applied file before applying anything, so a refused start changes nothing.
  const edited = files.filter((f) => done.has(f.name) && done.get(f.name)!.checksum !== f.checksum);
  if (edited.length > 0) {
    throw new MigrationError(
      `migration ${edited.map((f) => f.name).join(', ')} was modified after it was applied ` +
        `(${edited.map((f) => `database ${done.get(f.name)!.checksum}, disk ${f.checksum}`).join('; ')}); ` +
        'add a new migration instead of editing an applied one',
    );
  }
  const report: MigrationReport = { applied: [], alreadyApplied: [] };
  for (const file of files) {
    if (done.has(file.name)) {
      report.alreadyApplied.push(file.name);
      continue;
    }
    const id = randomUUID();
    await s.exec('BEGIN');
    try {
      await s.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
        [id, file.checksum, file.name],
      );
      await s.exec(file.sql);
      await s.query(
        'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
        [id],
      );
      await s.exec('COMMIT');
    } catch (err) {
      await s.exec('ROLLBACK');
      throw new MigrationError(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
    }
    report.applied.push(file.name);
  }
  return report;
}

/** True when every migration on disk is applied (used by /readyz). */
export async function pendingMigrations(
  db: Db,
  files: MigrationFile[] = readMigrations(),
): Promise<string[]> {
  const rows = await db
    .withSession((s) =>
      s.query<{ migration_name: string }>(
        `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      ),
    )
    .catch(() => [] as { migration_name: string }[]);
  const done = new Set(rows.map((r) => r.migration_name));
  return files.filter((f) => !done.has(f.name)).map((f) => f.name);
}
