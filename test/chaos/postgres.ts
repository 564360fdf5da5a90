/**
 * PostgreSQL for the chaos run: a fresh database `chaos_<random>` on a server (dropped at the end),
 * the Debian cluster behind that server (for the mid-run restart), and optionally a throw-away
 * cluster of our own so a restart disturbs nobody else's tests.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Creates `chaos_<random>` on the server of `serverUrl`; returns its URL. */
export async function createChaosDatabase(serverUrl: string): Promise<string> {
  const name = `chaos_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropChaosDatabase(serverUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!/^chaos_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a chaos database`);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export interface Cluster {
  version: string;
  name: string;
  port: number;
}

/** The local Debian cluster listening on `port` (from `pg_lsclusters`), if any. */
export async function clusterOnPort(port: number): Promise<Cluster | undefined> {
  const { stdout } = await run('pg_lsclusters', ['--no-header']);
  for (const line of stdout.trim().split('\n')) {
    const [version, name, p] = line.trim().split(/\s+/);
    if (version && name && Number(p) === port) return { version, name, port };
  }
  return undefined;
}

/** `version/name` -> the cluster, with its port from `pg_lsclusters`. */
export async function clusterByName(spec: string): Promise<Cluster> {
  const [version, name] = spec.split('/');
  const { stdout } = await run('pg_lsclusters', ['--no-header']);
  for (const line of stdout.trim().split('\n')) {
    const [v, n, p] = line.trim().split(/\s+/);
    if (v === version && n === name) return { version: v!, name: n!, port: Number(p) };
  }
  throw new Error(`no PostgreSQL cluster ${spec} (pg_lsclusters)`);
}

/** Restarts the cluster (fast shutdown: every session is cut); resolves with how long it took. */
export async function restartCluster(c: Cluster): Promise<number> {
  const t = Date.now();
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', c.version, c.name, 'restart', '-m', 'fast']);
  return Date.now() - t;
}

/**
 * A cluster of our own on a free port (`pg_createcluster`, trust auth on loopback), started; its
 * `drop` stops and removes it. Needs root (or the postgres user) and the Debian wrapper scripts.
 */
export async function createOwnCluster(): Promise<Cluster & { url: string; drop(): Promise<void> }> {
  const { stdout } = await run('ls', ['/etc/postgresql']);
  const version = stdout.trim().split('\n').sort().at(-1)!;
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const name = `chaos${randomBytes(3).toString('hex')}`;
  await run('pg_createcluster', [
    version,
    name,
    '-p',
    String(port),
    '--',
    '--auth-host=trust',
    '--auth-local=trust',
  ]);
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']);
  return {
    version,
    name,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    drop: async () => {
      await run('pg_dropcluster', ['--stop', version, name]);
    },
  };
}
