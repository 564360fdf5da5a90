import { messages } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { PgliteThread, type ThreadTransaction } from '../../src/db/pglite-thread.js';

/** PGlite in its worker thread (whichever database the suite runs on: this is about PGlite). */
describe('PgliteThread', () => {
  let db: PgliteThread;
  beforeAll(async () => {
    db = await PgliteThread.open(null);
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, at timestamptz, n numeric)');
  });
  afterAll(async () => {
    await db.close();
  });

  it("keeps the caller's thread free while a statement runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    await db.query('SELECT count(*) FROM generate_series(1, 3000000) g, (SELECT 1) x WHERE g % 7 = 0');
    const ms = performance.now() - t0;
    clearInterval(timer);
    // In the caller's thread the timer could not fire at all until the statement ended.
    expect(ms).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 5 / 4));
  });

  it('returns rows as PGlite parses them, and errors as its DatabaseError with their fields', async () => {
    await db.query('INSERT INTO t VALUES ($1, $2, $3)', [1, new Date('2026-11-11T00:00:00Z'), '1.50']);
    const [row] = (await db.query<{ id: number; at: Date; n: string }>('SELECT * FROM t WHERE id = 1')).rows;
    expect(row).toEqual({ id: 1, at: new Date('2026-11-11T00:00:00Z'), n: '1.50' });
    const err = await db.query('INSERT INTO t VALUES (1, now(), 0)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(messages.DatabaseError);
    expect(err).toMatchObject({ code: '23505', constraint: 't_pkey', table: 't' });
  });

  it("applies a caller's parsers to the text PostgreSQL sent (as Prisma's adapter asks)", async () => {
    const r = await db.query<unknown[]>('SELECT at, n, id FROM t WHERE id = 1', [], {
      rowMode: 'array',
      parsers: { 1184: (text: string) => `ts:${text}`, 1700: (text: string) => `num:${text}` },
    });
    expect(r.rows).toEqual([['ts:2026-11-11 00:00:00+00', 'num:1.50', 1]]);
  });

  it('runs a transaction alone: others wait for it; a throw or rollback() leaves nothing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const inTx = db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (10, now(), 1)');
      await gate;
      await tx.query('INSERT INTO t VALUES (11, now(), 1)');
    });
    // Queued behind the transaction: it sees both rows or neither, never one.
    const seen = db.query<{ n: number }>('SELECT count(*)::int AS n FROM t WHERE id IN (10, 11)');
    await new Promise((r) => setTimeout(r, 50));
    release();
    await inTx;
    expect((await seen).rows[0]!.n).toBe(2);

    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (20, now(), 1)');
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    const out = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (21, now(), 1)');
      await tx.rollback();
      return tx.closed;
    });
    expect(out).toBe(true);
    let kept: ThreadTransaction | undefined;
    await db.transaction(async (tx) => {
      kept = tx;
    });
    await expect(kept!.query('INSERT INTO t VALUES (22, now(), 1)')).rejects.toThrow('already ended');
    const left = await db.query<{ id: number }>('SELECT id FROM t WHERE id IN (20, 21, 22)');
    expect(left.rows).toEqual([]);
    // A failed statement inside rolls the transaction back, and the session is usable after.
    await expect(
      db.transaction((tx) => tx.query('INSERT INTO t VALUES (1, now(), 0)')),
    ).rejects.toMatchObject({
      code: '23505',
    });
    expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});

describe('PgliteThread when its worker dies', () => {
  it('fails what was waiting and every later call with a clear error', async () => {
    const lost: Error[] = [];
    const db = await PgliteThread.open(null, undefined, (err) => lost.push(err));
    const running = db.query('SELECT count(*) FROM generate_series(1, 5000000)');
    await (db as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(running).rejects.toThrow(/PGlite worker exited/);
    await expect(db.query('SELECT 1')).rejects.toThrow(/PGlite worker exited/);
    expect(db.closed).toBe(true);
    expect(lost.map((e) => e.message)).toEqual([expect.stringMatching(/PGlite worker exited/)]);
    await db.close();
  });

  it('does not report a worker closed on purpose as lost', async () => {
    const lost: Error[] = [];
    const db = await PgliteThread.open(null, undefined, (err) => lost.push(err));
    await db.query('SELECT 1');
    await db.close();
    await expect(db.query('SELECT 1')).rejects.toThrow(/PGlite worker exited/);
    expect(lost).toEqual([]);
  });
});

describe('openDatabase on PGlite', () => {
  it("runs PGlite with database.pgliteSharedBuffersMb (default 16 MB), not PostgreSQL's 128 MB", async () => {
    for (const [mb, shown] of [
      [undefined, '16MB'],
      [24, '24MB'],
    ] as const) {
      const db = await openDatabase('pglite:memory', { pgliteSharedBuffersMb: mb });
      try {
        const [row] = await db.statement<{ shared_buffers: string }>({
          text: 'SHOW shared_buffers',
          values: [],
        });
        expect(row!.shared_buffers).toBe(shown);
      } finally {
        await db.close();
      }
    }
  });
});
