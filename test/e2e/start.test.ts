/**
 * The real daemon as a child process: `node --import tsx src/main.ts`, configured only through
 * env, on a fresh database (a new PostgreSQL database when TEST_DATABASE_URL is set, else a
 * PGlite data directory in a temporary folder).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { pendingMigrations } from '../../src/db/migrate.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';

type LogLine = Record<string, unknown> & { msg: string };

interface Spawned {
  child: ChildProcess;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout log line matching `pred`; rejects if the process exits first. */
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

const children: ChildProcess[] = [];

/** Env of the test run minus everything the daemon's config reads, plus `env`. */
function daemonEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of ['CONFIG', 'DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'LOG_PRETTY']) delete base[k];
  return { ...base, ...env };
}

function spawnDaemon(env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: daemonEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      lines.push({ msg: `(not JSON) ${line}` });
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitForLine = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) done(() => resolve(hit));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no such log line within ${timeoutMs} ms; stderr: ${stderr}`))),
        timeoutMs,
      );
      const onExit = () =>
        done(() => reject(new Error(`daemon exited (${child.exitCode}) first; stderr: ${stderr}`)));
      const done = (fn: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
        fn();
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });
  return { child, lines, stderr: () => stderr, exited, waitForLine };
}

async function pollReady(url: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) return res;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/readyz not 200 within ${timeoutMs} ms: ${last}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'stockd-e2e-'));

afterAll(() => {
  // Leak guard: every daemon this file started has exited; one still running fails the file.
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
  expect(running.map((c) => c.pid)).toEqual([]);
});

describe('stockd daemon process', () => {
  let t: TestDb | undefined;
  let databaseUrl: string;
  const dataDir = join(tmp, 'pglite');

  beforeAll(async () => {
    if (onPostgres) {
      t = await createTestDb({ migrate: false });
      databaseUrl = t.url!;
    } else {
      databaseUrl = `pglite:${dataDir}`;
    }
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('starts on a fresh database, migrates it, gets ready, and stops cleanly on SIGTERM', async () => {
    const d = spawnDaemon({ DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    const listening = await d.waitForLine(
      (l) => typeof l.url === 'string' && l.msg.startsWith('stockd listening'),
    );
    const url = listening.url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(listening.database).toBe(onPostgres ? 'postgres' : 'pglite');
    expect(listening.msg).toBe(
      `stockd listening on ${url} (database: ${listening.database}); status at ${url}/status`,
    );

    const ready = await pollReady(url);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });

    if (t) expect(await pendingMigrations(t.db)).toEqual([]);

    d.child.kill('SIGTERM');
    const { code, signal } = await d.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(d.lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['shutting down', 'stockd stopped cleanly']),
    );
    expect(d.lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(d.stderr()).toBe('');

    if (!onPostgres) {
      // PGlite is single-process: the data directory can be opened only now the daemon is gone.
      expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
      const db = await openDatabase(databaseUrl);
      try {
        expect(await pendingMigrations(db)).toEqual([]);
      } finally {
        await db.close();
      }
    }
  });

  it('exits 2 on a bad env value, naming the key path and the env var, without a stack', async () => {
    const d = spawnDaemon({ DATABASE_URL: databaseUrl, PORT: 'abc' });
    const { code } = await d.exited;
    expect(code).toBe(2);
    expect(d.stderr()).toContain('server.port (from env PORT): expected an integer, got "abc"');
    expect(d.stderr()).not.toMatch(/^\s+at /m);
    expect(d.lines).toEqual([]);
  });

  it('exits 2 on an unknown key in the config file, naming it and the file', async () => {
    const file = join(tmp, 'typo.json');
    writeFileSync(file, JSON.stringify({ server: { prot: 8080 } }));
    const d = spawnDaemon({ CONFIG: file, DATABASE_URL: databaseUrl });
    const { code } = await d.exited;
    expect(code).toBe(2);
    expect(d.stderr()).toContain(`server.prot (from file ${file}): unknown key`);
  });
});
