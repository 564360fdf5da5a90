import { Worker } from 'node:worker_threads';
import { messages, type ParserOptions, type Results, type RowMode } from '@electric-sql/pglite';

/**
 * PGlite run in a worker thread (pglite-worker.js), behind the part of PGlite's interface this
 * project uses: `query`, `exec`, `transaction`, `close`, and what the Prisma adapter calls.
 *
 * Why: PGlite runs each statement synchronously on the calling thread. In the daemon's thread,
 * at the peak bench (session 10) its statements took half of that thread's time and webhook
 * acknowledgements waited behind them (p50 over a second at 300 orders/s). In a worker they
 * run on another core, and the daemon's thread only waits for their answers.
 *
 * Pipelined, in call order. The worker runs its messages one at a time in the order they came,
 * so a statement outside a transaction is posted at once, without waiting for the answers of
 * those before it: the engine goes from one to the next without a round trip between them
 * (a round trip between threads costs about a tenth of a millisecond). A transaction takes
 * the line: its statements go straight through, and everything called after it is posted only
 * once its COMMIT or ROLLBACK has been. Results cross the thread by structured clone (rows as
 * PGlite parsed them); a caller's own `parsers` (Prisma's adapter has some) are applied here,
 * to the text PostgreSQL sent. Errors come back as PGlite's own `DatabaseError`, with the same
 * fields (code, constraint, detail, ...).
 */
export class PgliteThread {
  /** A transaction (or close) holds the line; callers after it wait here, in call order. */
  private held = false;
  private readonly waiting: (() => void)[] = [];
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
    return this.posted(() => this.send<T>(sql, params, options));
  }

  exec(sql: string): Promise<Results[]> {
    return this.posted(() => this.call<Results[]>({ op: 'exec', sql }));
  }

  /**
   * Runs `fn` between BEGIN and COMMIT (ROLLBACK when it throws or calls `tx.rollback()`),
   * nothing else in between.
   */
  async transaction<T>(fn: (tx: ThreadTransaction) => Promise<T>): Promise<T> {
    await this.take();
    // The line is given up once the transaction's last statement is posted, before its answer:
    // whatever comes next runs after it in the worker either way.
    let holding = true;
    const give = () => {
      if (holding) this.give();
      holding = false;
    };
    try {
      await this.call({ op: 'exec', sql: 'BEGIN' });
      let open = true;
      const end = async (sql: 'COMMIT' | 'ROLLBACK', last: boolean) => {
        if (!open) return;
        open = false;
        const done = this.call({ op: 'exec', sql });
        if (last) give();
        await done;
      };
      // A statement after the end would run outside the transaction, maybe in someone else's.
      const ended = () => Promise.reject(new Error('PGlite transaction already ended'));
      const tx: ThreadTransaction = {
        query: <R>(sql: string, params?: unknown[], options?: QueryOptions) =>
          open ? this.send<R>(sql, params, options) : ended(),
        exec: (sql: string) => (open ? this.call<Results[]>({ op: 'exec', sql }) : ended()),
        rollback: () => end('ROLLBACK', false),
        get closed() {
          return !open;
        },
      };
      try {
        const out = await fn(tx);
        await end('COMMIT', true);
        return out;
      } catch (err) {
        await end('ROLLBACK', true).catch(() => undefined);
        throw err;
      }
    } finally {
      give();
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    await this.take();
    try {
      await this.call({ op: 'close' });
    } finally {
      this.give();
    }
    await this.worker.terminate();
    this.exited ??= new Error('PGlite worker exited (closed)');
  }

  /** Posts `post`'s message at once when the line is free, else after those waiting for it. */
  private posted<T>(post: () => Promise<T>): Promise<T> {
    if (!this.held && this.waiting.length === 0) return post();
    return this.take().then(() => {
      const answer = post();
      this.give();
      return answer;
    });
  }

  private take(): Promise<void> {
    if (!this.held && this.waiting.length === 0) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Passes the line to the next in it (it stays held), or frees it. */
  private give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
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
