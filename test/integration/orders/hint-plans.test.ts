/**
 * How PostgreSQL reads a shop's re-fetch hints when its statistics lag the inbox: the state of
 * a new database at the start of a burst, where the planner read the hints through the
 * (shop_id, dedupe_key) index and filtered every event of the shop (measured on the peak run:
 * up to 20,000 buffers and 90 ms for one count, a few times a second).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlQuery, SqlTx } from '../../../src/db/sql.js';
import { claimHints, dueHints, settleHints } from '../../../src/orders/inbox.js';
import { createTestDb, type TestDb } from '../../support/db.js';

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
  await t.db.withSession(async (s) => {
    await s.exec(`INSERT INTO shop (id, platform) VALUES ('tb', 'taobao')`);
    // Statistics taken while the inbox was empty, then a burst: 5,000 events, a few hints.
    await s.exec('ANALYZE inbox_event');
    await s.exec(`
      INSERT INTO inbox_event (shop_id, source, dedupe_key, payload, status)
      SELECT 'tb', 'webhook', 'e-' || g, jsonb_build_object('order', g), 'done'
      FROM generate_series(1, 5000) g;
      INSERT INTO inbox_event (shop_id, source, dedupe_key, payload, refetch_order_id)
      SELECT 'tb', 'webhook', 'h-' || g, '{}', 'T-' || g FROM generate_series(1, 3) g;`);
  });
});
afterAll(async () => {
  await t?.drop();
});

/** The plan of the one statement `run` sends, as EXPLAIN (FORMAT JSON) gives it, flattened. */
async function planOf(run: (tx: SqlTx) => Promise<unknown>): Promise<{ indexes: string[]; nodes: string[] }> {
  let plan: unknown;
  await t.db.transaction(async (tx) => {
    const explain = async (q: SqlQuery) => {
      // Prepared, the daemon's statement would run a cached generic plan, which EXPLAIN here
      // (given the values) would not show: these reads must be planned at each run.
      expect(q.name).toBeUndefined();
      const [row] = await tx.query<{ 'QUERY PLAN': unknown }>({
        text: `EXPLAIN (FORMAT JSON) ${q.text}`,
        values: q.values,
      });
      plan = row!['QUERY PLAN'];
      return [];
    };
    await run({ query: explain as SqlTx['query'], execute: async (q) => (await explain(q)).length });
  });
  const indexes: string[] = [];
  const nodes: string[] = [];
  const walk = (n: Record<string, unknown>) => {
    nodes.push(`${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`);
    if (n['Index Name']) indexes.push(n['Index Name'] as string);
    for (const c of (n.Plans as Record<string, unknown>[] | undefined) ?? []) walk(c);
  };
  const root = typeof plan === 'string' ? JSON.parse(plan) : plan;
  walk((root as { Plan: Record<string, unknown> }[])[0]!.Plan);
  return { indexes, nodes };
}

describe("a shop's re-fetch hints with statistics that lag the inbox", () => {
  it.each([
    ['counting the due hints', (tx: SqlTx) => dueHints(tx, 'tb', 50)],
    ['claiming them', (tx: SqlTx) => claimHints(tx, 'tb', 50, 60_000)],
    [
      'settling those a pull read',
      (tx: SqlTx) => settleHints(tx, 'tb', ['T-1', 'T-2'], new Date().toISOString()),
    ],
  ])('%s reads an index of pending hints, not every event of the shop', async (_, run) => {
    const { indexes, nodes } = await planOf(run);
    // inbox_event_shop_hint_idx, or for a lookup by order ids the status index may do as well.
    expect(indexes.filter((i) => i.startsWith('inbox_event_'))).not.toEqual([]);
    expect(indexes).not.toContain('inbox_event_shop_id_dedupe_key_key');
    expect(nodes).not.toContain('Seq Scan on inbox_event');
  });
});
