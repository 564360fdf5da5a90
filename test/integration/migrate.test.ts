import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, pendingMigrations, readMigrations } from '../../src/db/migrate.js';
import { createTestDb, type TestDb } from '../support/db.js';

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
