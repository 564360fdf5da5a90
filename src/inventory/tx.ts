import PQueue from 'p-queue';
import type { Db } from '../db/client.js';
import type { Prisma } from '../db/generated/client.js';
import type { SqlQuery, SqlTx } from '../db/sql.js';
import { BusyError } from '../domain/errors.js';

/** What stock code writes through: raw parameterized SQL in one transaction. */
export type Tx = SqlTx;
/** Prisma's interactive transaction, for cold paths that use the model API (the catalog). */
export type PrismaTx = Prisma.TransactionClient;

export interface TxRunnerOptions {
  /** `SET LOCAL lock_timeout` for stock transactions, ms. Default 5000. */
  lockTimeoutMs?: number;
  /** Concurrent stock transactions per process. Default: pool size on PostgreSQL, 1 on PGlite. */
  concurrency?: number;
  /** Retries of a transaction that failed on a deadlock or serialization conflict. Default 5. */
  maxRetries?: number;
}

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '55P03']);

/**
 * Runs stock transactions. Why a queue in front of Prisma: Prisma waits at most `maxWait`
 * for a pooled connection and then fails the call; under a burst (a thousand webhooks at
 * once) callers would fail for want of a connection, not for want of stock. The queue holds
 * them in memory instead, at most `concurrency` in the database at once. On PGlite, which
 * has one session, concurrency is 1.
 *
 * Deadlocks (40P01), serialization failures (40001) and lock timeouts (55P03) are retried
 * with jittered backoff: the work is idempotent and its transaction rolled back.
 */
export class TxRunner {
  private readonly queue: PQueue;
  private readonly maxRetries: number;
  /**
   * The lock timeout, ms, that a single-statement transaction ({@link single}) must set itself;
   * null on PGlite, whose one session never waits for a lock.
   */
  readonly lockTimeoutMs: number | null;

  constructor(
    private readonly db: Db,
    options: TxRunnerOptions = {},
  ) {
    const concurrency = options.concurrency ?? (db.kind === 'pglite' ? 1 : 10);
    this.queue = new PQueue({ concurrency });
    this.lockTimeoutMs = db.kind === 'postgres' ? Math.trunc(options.lockTimeoutMs ?? 5000) : null;
    this.maxRetries = options.maxRetries ?? 5;
  }

  /**
   * Runs `fn` in a raw-SQL transaction (see Db.transaction). Why not Prisma's interactive
   * transaction here: measured on our 2-core machines, a 6-statement transaction through
   * Prisma ran at about a quarter of the rate of the same statements on the same pg pool,
   * and stock writes are the hot path at peak.
   */
  run<T>(fn: (tx: Tx) => Promise<T>, options: { priority?: number } = {}): Promise<T> {
    return this.queue.add(
      () => this.withRetry(() => this.db.transaction(fn, { lockTimeoutMs: this.lockTimeoutMs ?? undefined })),
      { priority: options.priority ?? 0 },
    );
  }

  /**
   * Runs one statement as a transaction of its own (see Db.statement): one round trip. Same
   * queue and retries as {@link run}. A statement that may wait for stock row locks sets
   * {@link lockTimeoutMs} itself (`stock_reserve_line` does); the inbox's insert waits at most
   * for another insert of the same delivery key.
   */
  single<T>(q: SqlQuery, options: { priority?: number } = {}): Promise<T[]> {
    return this.queue.add(() => this.withRetry(() => this.db.statement<T>(q)), {
      priority: options.priority ?? 0,
    });
  }

  /**
   * Runs `fn` inside `outer` when the caller already has a transaction (the order intake
   * applies an order revision and its stock effects atomically), else in a new one. Inside a
   * joined transaction there is no queue and no retry: the owner of `outer` retries it whole.
   */
  join<T>(outer: Tx | undefined, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return outer ? fn(outer) : this.run(fn);
  }

  /** Runs `fn` in a Prisma interactive transaction; `sqlOf(tx)` gives the same SQL port. */
  runPrisma<T>(fn: (tx: PrismaTx) => Promise<T>): Promise<T> {
    return this.queue.add(() =>
      this.withRetry(() =>
        this.db.prisma.$transaction(
          async (tx) => {
            await this.setLockTimeout(sqlOf(tx));
            return fn(tx);
          },
          { maxWait: 30_000, timeout: 60_000 },
        ),
      ),
    );
  }

  /** Resolves when no transaction is queued or running. */
  onIdle(): Promise<void> {
    return this.queue.onIdle();
  }

  private async setLockTimeout(tx: Tx): Promise<void> {
    // PGlite has one session: nothing can hold a lock we would wait for.
    if (this.lockTimeoutMs !== null) {
      await tx.execute({ text: `SET LOCAL lock_timeout = '${this.lockTimeoutMs}ms'`, values: [] });
    }
  }

  private async withRetry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isRetryable(err)) throw err;
        if (n >= this.maxRetries) {
          throw new BusyError(`stock rows are busy (${sqlState(err)} after ${n + 1} attempts); try again`, {
            cause: err,
          });
        }
        const base = 10 * 2 ** n;
        await new Promise((r) => setTimeout(r, base + Math.random() * base));
      }
    }
  }
}

/** The SQL port over a Prisma transaction, so store functions serve both kinds. */
export function sqlOf(tx: PrismaTx): Tx {
  return {
    query: <T>(q: SqlQuery) => tx.$queryRawUnsafe<T[]>(q.text, ...q.values),
    execute: (q: SqlQuery) => tx.$executeRawUnsafe(q.text, ...q.values),
  };
}

/** The PostgreSQL SQLSTATE behind a Prisma / driver-adapter error, if any. */
export function sqlState(err: unknown): string | undefined {
  return pgErrorField(err, 'originalCode') ?? pgErrorField(err, 'code');
}

/** The PostgreSQL error message behind a Prisma / driver-adapter error, if any. */
export function pgMessage(err: unknown): string | undefined {
  return pgErrorField(err, 'originalMessage');
}

// Prisma wraps driver errors as meta.driverAdapterError.cause {originalCode, originalMessage};
// a raw pg error carries `code` itself. Prisma's own codes (P2010...) are not SQLSTATEs.
function pgErrorField(err: unknown, field: 'originalCode' | 'originalMessage' | 'code'): string | undefined {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const o = e as Record<string, unknown>;
    const meta = o.meta as Record<string, unknown> | undefined;
    const driver = meta?.driverAdapterError as Record<string, unknown> | undefined;
    const cause = driver?.cause as Record<string, unknown> | undefined;
    const v = cause?.[field] ?? o[field];
    if (typeof v === 'string' && (field !== 'code' || /^[0-9A-Z]{5}$/.test(v)) && !/^P\d{4}$/.test(v))
      return v;
    e = o.cause;
  }
  return undefined;
}

function isRetryable(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && RETRYABLE_SQLSTATES.has(state);
}
