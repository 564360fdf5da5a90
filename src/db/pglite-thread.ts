import { Worker } from 'node:worker_threads';
import { messages, type ParserOptions, type Results, type RowMode } from '@electric-sql/pglite';
import PQueue from 'p-queue';

/**
 * PGlite run in a worker thread (pglite-worker.js), behind the part of PGlite's interface this
 * project uses: `query`, `exec`, `transaction`, `close`, and what the Prisma adapter calls.
 *
 * Why: PGlite runs each statement synchronously on the calling thread. In the daemon's thread,
 * at the peak bench (session 10) its statements took half of that thread's time and webhook
 * acknowledgements waited behind them (p50 over a second at 300 orders/s). In a worker they
 * run on another core, and the daemon's thread only waits for their answers.
 *
 * One statement (or one transaction) at a time, in call order, as PGlite's own mutex does: a
 * transaction's statements go straight through, everything else waits for it to end. Results
 * cross the thread by structured clone (rows as PGlite parsed them); a caller's own `parsers`
 * (Prisma's adapter has some) are applied here, to the text PostgreSQL sent. Errors come back
 * as PGlite's own `DatabaseError`, with the same fields (code, constraint, detail, ...).
 */
export class PgliteThread {
  private readonly lock = new PQueue({ concurrency: 1 });
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  private nextId = 1;
  private exited: Error | null = null;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    private readonly onLost?: (err: Error) => void,
  ) {
    worker.on('message', (m: { id: number; result?: unknown; error?: SentError }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error) p.reject(errorFrom(m.error));
      else p.resolve(m.result);
    });
    const fail = (err: Error) => {
      if (this.exited) return;
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (!this.closing) this.onLost?.(err);
    };
    worker.on('error', (err) => fail(new Error(`PGlite worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(new Error(`PGlite worker exited (code ${code})`)));
    worker.unref();
  }

  /**
   * Starts the worker and opens the database (`dataDir` null: in memory). `onLost`: called
   * once if the worker dies other than by `close()` (every call fails from then on).
   */
  static async open(
    dataDir: string | null,
    startParams?: string[],
    onLost?: (err: Error) => void,
  ): Promise<PgliteThread> {
    const worker = new Worker(new URL('./pglite-worker.js', import.meta.url), {
      workerData: { dataDir, startParams },
    });
    let off = () => {};
    const opening = new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready: boolean; error?: SentError }) =>
        m.ready ? resolve() : reject(errorFrom(m.error!));
      const onExit = (code: number) => reject(new Error(`PGlite worker exited (code ${code}) while opening`));
      worker.once('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', onExit);
      // Only these: the Worker's own listeners keep its message port working.
      off = () => {
        worker.off('message', onMessage);
        worker.off('error', reject);
        worker.off('exit', onExit);
      };
    });
    try {
      await opening;
    } finally {
      off();
    }
    return new PgliteThread(worker, onLost);
  }

  get closed(): boolean {
    return this.exited !== null;
  }

  query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    return this.lock.add(() => this.send<T>(sql, params, options));
  }

  exec(sql: string): Promise<Results[]> {
    return this.lock.add(() => this.call<Results[]>({ op: 'exec', sql }));
  }

  /**
   * Runs `fn` between BEGIN and COMMIT (ROLLBACK when it throws or calls `tx.rollback()`),
   * nothing else in between.
   */
  transaction<T>(fn: (tx: ThreadTransaction) => Promise<T>): Promise<T> {
    return this.lock.add(async () => {
      await this.call({ op: 'exec', sql: 'BEGIN' });
      let open = true;
      const end = async (sql: 'COMMIT' | 'ROLLBACK') => {
        if (!open) return;
        open = false;
        await this.call({ op: 'exec', sql });
      };
      // A statement after the end would run outside the lock, in someone else's transaction.
      const ended = () => Promise.reject(new Error('PGlite transaction already ended'));
      const tx: ThreadTransaction = {
        query: <R>(sql: string, params?: unknown[], options?: QueryOptions) =>
          open ? this.send<R>(sql, params, options) : ended(),
        exec: (sql: string) => (open ? this.call<Results[]>({ op: 'exec', sql }) : ended()),
        rollback: () => end('ROLLBACK'),
        get closed() {
          return !open;
        },
      };
      try {
        const out = await fn(tx);
        await end('COMMIT');
        return out;
      } catch (err) {
        await end('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    await this.lock.add(() => this.call({ op: 'close' }));
    await this.worker.terminate();
    this.exited ??= new Error('PGlite worker exited (closed)');
  }

  private async send<T>(sql: string, params: unknown[] | undefined, options: QueryOptions | undefined) {
    const parsers = options?.parsers ?? {};
    const raw = Object.keys(parsers).map(Number);
    const r = await this.call<Results<T>>({ op: 'query', sql, params, rowMode: options?.rowMode, raw });
    if (raw.length > 0) parseRaw(r, parsers);
    return r;
  }

  private call<T = unknown>(message: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...message, id });
    });
  }
}

export interface QueryOptions {
  rowMode?: RowMode;
  parsers?: ParserOptions;
}

export interface ThreadTransaction {
  query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(sql: string): Promise<Results[]>;
  rollback(): Promise<void>;
  readonly closed: boolean;
}

interface SentError {
  name: string;
  message: string;
  stack?: string;
  database?: boolean;
  fields: Record<string, unknown>;
}

/** Applies the caller's parsers to the columns the worker left as text. */
function parseRaw(r: Results<unknown>, parsers: ParserOptions): void {
  const columns = r.fields
    .map((f, i) => ({ i, name: f.name, parse: parsers[f.dataTypeID], type: f.dataTypeID }))
    .filter((c) => c.parse !== undefined);
  if (columns.length === 0) return;
  for (const row of r.rows as Record<string | number, unknown>[]) {
    for (const c of columns) {
      const key = Array.isArray(row) ? c.i : c.name;
      const v = row[key];
      if (typeof v === 'string') row[key] = (c.parse as (text: string, type: number) => unknown)(v, c.type);
    }
  }
}

function errorFrom(e: SentError): Error {
  const err = e.database
    ? new messages.DatabaseError(e.message, 0, 'error')
    : Object.assign(new Error(e.message), { name: e.name });
  Object.assign(err, e.fields);
  if (e.stack) err.stack = e.stack;
  return err;
}
