import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * PGlite is PostgreSQL in this process: a second process opening the same data directory would
 * corrupt it. The daemon holds `stockd.pid` in the directory while it runs; a second daemon is
 * refused with the first one's pid. A pid file left by a killed process whose pid is gone is
 * taken over. (Replicas need PostgreSQL.)
 */
export class PgliteDirLockedError extends Error {
  override readonly name = 'PgliteDirLockedError';
}

export function lockPgliteDir(dataDir: string, pid = process.pid): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'stockd.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(pid)) rmSync(file);
        } catch {
          // Already gone.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== pid && alive(holder)) {
        throw new PgliteDirLockedError(
          `PGlite directory ${dataDir} is in use by another stockd process (pid ${holder}). ` +
            'PGlite runs in one process; run several daemons on PostgreSQL instead.',
        );
      }
      rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new PgliteDirLockedError(`could not lock PGlite directory ${dataDir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
