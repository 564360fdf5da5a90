import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Db, openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';

/**
 * The database the suite runs on: `TEST_DATABASE_URL` (a PostgreSQL server URL whose database
 * is used only to create and drop per-file databases) or, when unset, in-memory PGlite.
 */
export const testServerUrl = process.env.TEST_DATABASE_URL ?? '';
export const onPostgres = testServerUrl.startsWith('postgres');

export interface TestDb {
  db: Db;
  /** URL of this file's own database (for a second client, a "replica"). */
  url: string | undefined;
  /** Opens another client on the same database (PostgreSQL only). */
  openReplica(): Promise<Db>;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file: a new PostgreSQL database, or a new PGlite. */
export async function createTestDb(options: { migrate?: boolean } = {}): Promise<TestDb> {
  const url = onPostgres ? await createPgDatabase() : 'pglite:memory';
  const db = await openDatabase(url);
  if (options.migrate !== false) await migrate(db);
  const replicas: Db[] = [];
  return {
    db,
    url,
    async openReplica() {
      if (!onPostgres) throw new Error('replicas need PostgreSQL');
      const r = await openDatabase(url);
      replicas.push(r);
      return r;
    },
    async drop() {
      for (const r of replicas) await r.close();
      await db.close();
      if (onPostgres) await dropPgDatabase(url);
    },
  };
}

function adminUrl(): string {
  return testServerUrl;
}

async function createPgDatabase(): Promise<string> {
  const name = `stockd_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

async function dropPgDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
