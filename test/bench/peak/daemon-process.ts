/**
 * The daemon under test as a separate process, compiled as the Dockerfile runs it (`tsc -p
 * tsconfig.build.json`, then `node <build>/src/main.js` with a config file), so its memory and
 * CPU are its own and what a deployment's would be: under `tsx` the same daemon starts about
 * 80 MB larger (the loader and the sources it transforms). Peak RSS from /proc/<pid>/status
 * (VmHWM), CPU from /proc/<pid>/stat (utime + stime). Also reads the CPU of other processes
 * (PostgreSQL backends).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Compiles the daemon into `outDir` (inside the repository, so its packages resolve from
 * node_modules) with the migrations where the compiled code looks for them, as the Dockerfile
 * lays it out. Returns the path of its main.js. Throws with tsc's output when it fails.
 */
export function buildDaemon(outDir: string): string {
  const out = resolve(outDir);
  rmSync(out, { recursive: true, force: true });
  try {
    execFileSync(
      process.execPath,
      [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out],
      { encoding: 'utf8', stdio: 'pipe' },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`building the daemon failed: ${e.stdout || e.stderr || e.message}`);
  }
  // src/db/migrate.ts finds ../../prisma/migrations from its own file: <out>/prisma/migrations.
  cpSync(resolve('prisma/migrations'), join(out, 'prisma/migrations'), { recursive: true });
  const main = join(out, 'src/main.js');
  if (!existsSync(main)) throw new Error(`building the daemon wrote no ${main}`);
  return main;
}

/** Clock ticks per second of /proc/<pid>/stat times. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used, or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * Seconds the process's main thread (for Node: the event loop) spent runnable but waiting for a
 * CPU (/proc/<pid>/schedstat, second field), or null. On a machine shared with other work this is
 * the time the process wanted to run and could not.
 */
export function runQueueSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
    const ns = Number(fields[1]);
    return Number.isFinite(ns) ? ns / 1e9 : null;
  } catch {
    return null;
  }
}

/**
 * CPU and run-queue seconds of a changing set of processes (a database's backends: the pool
 * closes idle connections and opens new ones) over a window. `start` with the set at the start,
 * `sample` with the set as often as convenient (each second) and at the end. A process first
 * seen after the start began after it, so all its time counts; what a process spent between its
 * last sample and its exit is missed (at most one interval's worth). Summing only the processes
 * alive at both ends, as before, read -5% of a core when backends came and went.
 */
export class ProcessSetTally {
  private readonly last = new Map<number, { cpu: number; wait: number }>();
  private started = false;
  cpu = 0;
  wait = 0;

  start(pids: readonly number[]): void {
    this.started = true;
    for (const pid of pids) {
      const now = read(pid);
      if (now) this.last.set(pid, now);
    }
  }

  sample(pids: readonly number[]): void {
    if (!this.started) return;
    for (const pid of pids) {
      const now = read(pid);
      if (!now) continue;
      const before = this.last.get(pid) ?? { cpu: 0, wait: 0 };
      this.cpu += now.cpu - before.cpu;
      this.wait += now.wait - before.wait;
      this.last.set(pid, now);
    }
  }
}

function read(pid: number): { cpu: number; wait: number } | null {
  const cpu = cpuSeconds(pid);
  const wait = runQueueSeconds(pid);
  return cpu === null || wait === null ? null : { cpu, wait };
}

/** VmHWM (peak resident set) and VmRSS in MB, or null when the process is gone. */
export function memoryMb(pid: number): { peakRss: number; rss: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { peakRss: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

export interface DaemonProcess {
  readonly pid: number;
  readonly url: string;
  /** Sends SIGTERM and waits for the exit; resolves the exit code. */
  stop(): Promise<number | null>;
  /** Resolves when the process exits (for failure detection while it runs). */
  readonly exited: Promise<number | null>;
}

/** Environment variables that would override the config file (see src/config.ts). */
const CONFIG_ENV = ['CONFIG', 'DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'LOG_PRETTY', 'ADMIN_TOKEN'];

export async function startDaemonProcess(options: {
  config: Record<string, unknown>;
  configFile: string;
  logFile: string;
  port: number;
  /** Directory for a V8 CPU profile (`--cpu-prof`), written when the daemon exits. */
  cpuProfDir?: string;
  /** The compiled daemon's main.js (see buildDaemon). */
  main: string;
}): Promise<DaemonProcess> {
  writeFileSync(options.configFile, `${JSON.stringify(options.config, null, 2)}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, CONFIG: options.configFile };
  for (const k of CONFIG_ENV) if (k !== 'CONFIG') delete env[k];
  const log = openSync(options.logFile, 'w');
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []), options.main],
    { env, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 120_000;
  let ready = false;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!ready && !gone && Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      ready = r.ok;
    } catch {
      // not listening yet
    }
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(
      `the daemon did not become ready (${gone ? 'it exited' : 'timeout'}); see ${options.logFile}`,
    );
  }
  return {
    pid: child.pid!,
    url,
    exited,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
