// @ts-check
/**
 * PGlite's engine in a worker thread (see pglite-thread.ts, its only client). PGlite is
 * PostgreSQL compiled to WebAssembly: every statement runs synchronously on the thread that
 * calls it. Here that is this thread, so the daemon's own thread keeps answering webhooks
 * while a batch applies, and the two use two cores.
 *
 * Plain JavaScript so that Node runs it as it is, under tsx, vitest or the build alike.
 *
 * Messages in: `{ id, op: 'query', sql, params, rowMode, raw }` (raw: type OIDs to return as
 * the text PostgreSQL sent, for the caller's own parsers), `{ id, op: 'exec', sql }`,
 * `{ id, op: 'close' }`. Out: `{ ready: true }` or `{ ready: false, error }` once, then
 * `{ id, result }` or `{ id, error }` per message, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { messages, PGlite } from '@electric-sql/pglite';

const port = parentPort;
if (!port) throw new Error('pglite-worker.js runs as a worker thread');

/** @param {unknown} err */
function errorOf(err) {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  /** @type {Record<string, unknown>} */
  const fields = {};
  for (const [k, v] of Object.entries(err)) {
    if (v === undefined || typeof v === 'function') continue;
    // PGlite attaches the failed query's options (parsers: functions) to its errors.
    if (k === 'queryOptions') continue;
    try {
      structuredClone(v);
      fields[k] = v;
    } catch {
      // Not transferable; the caller does without it.
    }
  }
  return {
    name: err.name,
    message: err.message,
    stack: err.stack,
    database: err instanceof messages.DatabaseError,
    fields,
  };
}

/** @param {string} text */
const rawText = (text) => text;

/** @type {PGlite} */
let db;
try {
  const { dataDir, startParams } = workerData;
  db = new PGlite({ ...(dataDir ? { dataDir } : {}), ...(startParams ? { startParams } : {}) });
  await db.waitReady;
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, error: errorOf(err) });
  process.exit(1);
}

port.on('message', async (m) => {
  try {
    if (m.op === 'query') {
      /** @type {{ rowMode?: 'array' | 'object', parsers?: Record<number, (text: string) => unknown> }} */
      const options = {};
      if (m.rowMode) options.rowMode = m.rowMode;
      // Only when asked: PGlite copies its whole table of parsers for a query given any, even
      // none (measured: 0.15 ms a statement, as much as a one-row UPDATE takes).
      if (m.raw?.length > 0) {
        options.parsers = {};
        for (const oid of m.raw) options.parsers[oid] = rawText;
      }
      const r = await db.query(m.sql, m.params, options);
      port.postMessage({
        id: m.id,
        result: { rows: r.rows, fields: r.fields, affectedRows: r.affectedRows },
      });
    } else if (m.op === 'exec') {
      const rs = await db.exec(m.sql);
      port.postMessage({
        id: m.id,
        result: rs.map((r) => ({ rows: r.rows, fields: r.fields, affectedRows: r.affectedRows })),
      });
    } else if (m.op === 'close') {
      await db.close();
      port.postMessage({ id: m.id, result: null });
      port.close();
    } else {
      port.postMessage({ id: m.id, error: errorOf(new Error(`unknown op ${m.op}`)) });
    }
  } catch (err) {
    port.postMessage({ id: m.id, error: errorOf(err) });
  }
});
