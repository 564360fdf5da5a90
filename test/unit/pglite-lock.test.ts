import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPgliteDir, PgliteDirLockedError } from '../../src/db/pglite-lock.js';

describe('PGlite directory lock', () => {
  it('refuses a second process while the first runs, naming its pid, and frees the directory on release', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stockd-lock-'));
    const release = lockPgliteDir(dir);
    expect(readFileSync(join(dir, 'stockd.pid'), 'utf8').trim()).toBe(String(process.pid));
    let err: unknown;
    try {
      lockPgliteDir(dir, process.pid + 1_000_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PgliteDirLockedError);
    expect((err as Error).message).toMatch(
      new RegExp(`in use by another stockd process \\(pid ${process.pid}\\).*PostgreSQL`),
    );
    release();
    expect(existsSync(join(dir, 'stockd.pid'))).toBe(false);
    lockPgliteDir(dir, 4242)();
  });

  it('takes over a pid file left by a process that is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stockd-lock-'));
    const gone = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    writeFileSync(join(dir, 'stockd.pid'), `${gone}\n`);
    const release = lockPgliteDir(dir);
    expect(readFileSync(join(dir, 'stockd.pid'), 'utf8').trim()).toBe(String(process.pid));
    release();
  });
});
