import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { maskUrlPassword } from '../log.js';
import { PrismaClient } from './generated/client.js';
import { PgliteThread } from './pglite-thread.js';
import type { SqlQuery, SqlTx } from './sql.js';

export type { PrismaClient } from './generated/client.js';

/** Which engine a database URL selects. */
export type DbKind = 'pglite' | 'postgres';

/** Raw SQL on one connection, for the migration runner and maintenance tasks. */
export interface SqlSession {
  /** Runs a script of one or more statements (simple query protocol, no parameters). */
  exec(script: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db {
  readonly kind: DbKind;
  /** The URL with any password masked, for logs and the status page. */
  readonly displayUrl: string;
  readonly prisma: PrismaClient;
  /** Runs `fn` on one dedicated connection (PostgreSQL) or on the single PGlite session. */
  withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction (READ COMMITTED) on one connection, on the same pool Prisma
   * uses, without Prisma's per-statement overhead: the port for hot paths (the stock ledger).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs one statement as a transaction of its own (autocommit): one round trip, no BEGIN or
   * COMMIT. For hot paths whose whole transaction is one statement (a plpgsql function); such a
   * statement sets its own `lock_timeout` if it needs one (`set_config(..., true)`).
   */
  statement<T = Record<string, unknown>>(q: SqlQuery): Promise<T[]>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /** `lock_timeout` for this transaction, ms (PostgreSQL; PGlite has one session and never waits). */
  lockTimeoutMs?: number;
}

export interface DbOptions {
  /** PostgreSQL pool size per process. Default 10. */
  poolSize?: number;
  /**
   * Called if PGlite's worker thread dies (not closed): every later call fails. The daemon
   * exits on it, so that its supervisor restarts it. Ignored on PostgreSQL (a lost connection
   * is retried by the pool).
   */
  onLost?: (err: Error) => void;
  /** PGlite's `shared_buffers`, MB (config `database.pgliteSharedBuffersMb`). Default 16. */
  pgliteSharedBuffersMb?: number;
  /** Default data directory when the URL is unset. Default `./data/pglite`. */
  defaultPgliteDir?: string;
}

/** Parses a `DATABASE_URL`: unset or `pglite:<dir>` / `pglite:memory` -> PGlite; `postgres(ql)://` -> PostgreSQL. */
export function parseDatabaseUrl(
  url: string | undefined,
  defaultPgliteDir = './data/pglite',
): { kind: 'pglite'; dataDir: string | null } | { kind: 'postgres'; url: string } {
  if (url === undefined || url === '') return { kind: 'pglite', dataDir: defaultPgliteDir };
  if (url.startsWith('pglite:')) {
    const rest = url.slice('pglite:'.length);
    if (rest === 'memory' || rest === 'memory://') return { kind: 'pglite', dataDir: null };
    if (rest === '') throw new Error(`DATABASE_URL "${url}": pglite: needs a directory or "memory"`);
    return { kind: 'pglite', dataDir: rest };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  throw new Error(
    `DATABASE_URL must be unset, pglite:<dir>, pglite:memory or postgres://...; got "${maskUrlPassword(url)}"`,
  );
}

/** Opens the database named by `url` (see {@link parseDatabaseUrl}). Does not migrate. */
export async function openDatabase(url: string | undefined, options: DbOptions = {}): Promise<Db> {
  const target = parseDatabaseUrl(url, options.defaultPgliteDir);
  return target.kind === 'pglite'
    ? openPglite(target.dataDir, options.pgliteSharedBuffersMb ?? 16, options.onLost)
    : openPostgres(target.url, options.poolSize ?? 10);
}

async function openPglite(
  dataDir: string | null,
  sharedBuffersMb: number,
  onLost: ((err: Error) => void) | undefined,
): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffersMb}MB`];
  // A new data directory is made by PostgreSQL's initdb, whose memory would stay with the worker
  // for good (WebAssembly memory never shrinks): the daemon's first run showed 838 MB RSS, a
  // restart on the same directory 371 MB. A worker of its own makes the directory and goes.
  if (dataDir && !existsSync(join(dataDir, 'PG_VERSION'))) {
    await (await PgliteThread.open(dataDir, startParams)).close();
  }
  const lite = await PgliteThread.open(dataDir, startParams, onLost);
  // The adapter calls query (rowMode, parsers), exec and transaction, which PgliteThread serves.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(lite as unknown as PGlite) });
  const session: SqlSession = {
    exec: async (script) => {
      await lite.exec(script);
    },
    query: async <T>(sql: string, params?: unknown[]) => (await lite.query<T>(sql, params)).rows,
  };
  return {
    kind: 'pglite',
    displayUrl: dataDir ? `pglite:${dataDir}` : 'pglite:memory',
    prisma,
    withSession: (fn) => fn(session),
    transaction: (fn) =>
      lite.transaction((t) =>
        fn({
          query: async (q) => (await t.query(q.text, q.values as unknown[])).rows as never,
          execute: async (q) => (await t.query(q.text, q.values as unknown[])).affectedRows ?? 0,
        }),
      ),
    // lite.query takes the same lock as lite.transaction: it never runs inside another's transaction.
    statement: async <T>(q: SqlQuery) => (await lite.query<T>(q.text, q.values as unknown[])).rows,
    close: async () => {
      await prisma.$disconnect();
      await lite.close();
    },
  };
}

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    kind: 'postgres',
    displayUrl: maskUrlPassword(url),
    prisma,
    withSession: async (fn) => {
      const client = await pool.connect();
      try {
        return await fn({
          exec: async (script) => {
            await client.query(script);
          },
          query: async <T>(sql: string, params?: unknown[]) =>
            (await client.query(sql, params as unknown[] | undefined)).rows as T[],
        });
      } finally {
        client.release();
      }
    },
    transaction: async (fn, options = {}) => {
      const client = await pool.connect();
      let broken: unknown;
      try {
        // One round trip: the simple query protocol takes both statements at once.
        const timeout = options.lockTimeoutMs;
        await client.query(
          timeout === undefined ? 'BEGIN' : `BEGIN; SET LOCAL lock_timeout = '${Math.trunc(timeout)}ms'`,
        );
        const tx: SqlTx = {
          query: async (q) => (await client.query(pgQuery(q))).rows,
          execute: async (q) => (await client.query(pgQuery(q))).rowCount ?? 0,
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e;
        });
        throw err;
      } finally {
        // A connection that could not even roll back is not returned to the pool.
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    statement: async <T>(q: SqlQuery) => (await pool.query(pgQuery(q))).rows as T[],
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

function pgQuery(q: SqlQuery): pg.QueryConfig {
  return { text: q.text, values: q.values as unknown[], ...(q.name ? { name: q.name } : {}) };
}
