import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/db/group-commit.js';

/** A writer that records its batches, answers each item doubled, and refuses any negative item. */
function recorder(delayMs = 5) {
  const batches: number[][] = [];
  const write = async (items: readonly number[]) => {
    batches.push([...items]);
    await new Promise((r) => setTimeout(r, delayMs));
    if (items.some((i) => i < 0)) throw new Error(`refused ${items.filter((i) => i < 0).join(',')}`);
    return items.map((i) => i * 2);
  };
  return { batches, write };
}

describe('GroupCommit', () => {
  it('writes at once when idle, then everything that arrived meanwhile in one batch', async () => {
    const r = recorder();
    const g = new GroupCommit(r.write);
    const first = g.add([1]);
    const rest = Array.from({ length: 20 }, (_, k) => g.add([10 + k, 100 + k]));
    expect(await first).toEqual([2]);
    expect(await Promise.all(rest)).toEqual(
      Array.from({ length: 20 }, (_, k) => [2 * (10 + k), 2 * (100 + k)]),
    );
    expect(r.batches.map((b) => b.length)).toEqual([1, 40]);
  });

  it('keeps a batch under maxItems, never splitting a group', async () => {
    const r = recorder();
    const g = new GroupCommit(r.write, 5);
    await Promise.all([
      g.add([0]),
      g.add([1, 2, 3]),
      g.add([4, 5]),
      g.add([6, 7, 8, 9, 10, 11]),
      g.add([12]),
    ]);
    expect(r.batches).toEqual([[0], [1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12]]);
  });

  it('a failing batch is written again group by group: only the bad group fails', async () => {
    const r = recorder();
    const g = new GroupCommit(r.write);
    const first = g.add([1]);
    const good = g.add([2, 3]);
    const bad = g.add([4, -5]);
    const alsoGood = g.add([6]);
    await first;
    expect(await good).toEqual([4, 6]);
    await expect(bad).rejects.toThrow('refused -5');
    expect(await alsoGood).toEqual([12]);
    // Nothing of the bad group was answered as written, and the good groups were written alone.
    expect(r.batches).toContainEqual([2, 3]);
    expect(r.batches).toContainEqual([6]);
  });

  it('goes on after a failure', async () => {
    const r = recorder(1);
    const g = new GroupCommit(r.write);
    await expect(g.add([-1])).rejects.toThrow('refused -1');
    expect(await g.add([7])).toEqual([14]);
  });
});
