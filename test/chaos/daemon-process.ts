/**
 * The daemon under test as a child process (`node --import tsx src/main.ts`, the way `npm start`
 * runs it, minus npm), restarted at once whenever it is SIGKILLed by the chaos driver or exits by
 * itself. Its stdout and stderr are appended to one log file.
 *
 * Every start, kill and exit is recorded with its time, so the report can tell kills from crashes
 * and say whether the daemon survived a PostgreSQL restart or had to be started again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface DaemonEvent {
  /** ms since the supervisor started. */
  at: number;
  kind: 'start' | 'ready' | 'kill' | 'exit';
  pid: number;
  /** For `kill`: whether the daemon had answered /readyz before (false: killed while starting). */
  wasReady?: boolean;
  /** For `exit`. */
  code?: number | null;
  signal?: NodeJS.Signals | null;
  /** For `exit`: true when the driver did not ask for it (not a kill, not the final stop). */
  unexpected?: boolean;
  /** For `ready`: ms from spawn to the first 200 of /readyz. */
  startMs?: number;
  /** For an unexpected `exit`: the process's last error or fatal log line (cut to 400 characters). */
  lastError?: string;
}

export interface SupervisorOptions {
  /** Repository root (the child's working directory). */
  cwd: string;
  /** Env of the daemon on top of this process's (minus what the config reads). */
  env: Record<string, string>;
  /** Base URL the daemon listens on (its fixed port), for readiness probes. */
  url: string;
  logFile: string;
  /** Wait before starting again after an exit the driver did not ask for. Default 300 ms. */
  restartDelayMs?: number;
}

/** Env vars the daemon's config reads; the driver's own values must not leak into the child. */
const CONFIG_ENV = ['CONFIG', 'DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'LOG_PRETTY', 'ADMIN_TOKEN'];

export class DaemonSupervisor {
  readonly events: DaemonEvent[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readyNow = false;
  private spawnedAt = 0;
  /** Epoch ms the event clock counts from. */
  readonly startedAt = Date.now();
  private expectingExit = false;
  private stopped = false;
  private readonly logFd: number;
  private waiters = new Set<() => void>();

  constructor(private readonly options: SupervisorOptions) {
    this.logFd = openSync(options.logFile, 'a');
  }

  /** ms since the supervisor was created (the clock of {@link events}). */
  now(): number {
    return Date.now() - this.startedAt;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get ready(): boolean {
    return this.readyNow;
  }

  /** Starts the daemon (if not running) and resolves once /readyz answers 200. */
  async start(timeoutMs = 120_000): Promise<void> {
    if (!this.child) this.spawn();
    await this.waitReady(timeoutMs);
  }

  /** Resolves when the current (or next) daemon answers /readyz; rejects after `timeoutMs`. */
  waitReady(timeoutMs = 120_000): Promise<void> {
    if (this.readyNow) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error(`daemon not ready within ${timeoutMs} ms (log: ${this.options.logFile})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  /** SIGKILLs the running daemon and starts a new one at once. Resolves once the new one is spawned. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || this.stopped || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    this.events.push({ at: this.now(), kind: 'kill', pid: child.pid, wasReady: this.readyNow });
    child.kill('SIGKILL');
    await this.exited;
    this.expectingExit = false;
    if (!this.stopped) this.spawn();
  }

  /**
   * Graceful stop (SIGTERM) and no restart. Resolves with the exit; SIGKILLs it after
   * `timeoutMs` (then `forced` is true).
   */
  async stop(
    timeoutMs = 30_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; forced: boolean }> {
    this.stopped = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      closeSync(this.logFd);
      return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null, forced: false };
    }
    this.expectingExit = true;
    const result = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.kill('SIGTERM');
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const r = await result;
    clearTimeout(timer);
    closeSync(this.logFd);
    return { ...r, forced };
  }

  /** Exits the driver did not ask for. */
  crashes(): DaemonEvent[] {
    return this.events.filter((e) => e.kind === 'exit' && e.unexpected);
  }

  /** The last `n` lines of the daemon's log. */
  tail(n = 20): string[] {
    try {
      return readFileSync(this.options.logFile, 'utf8').trimEnd().split('\n').slice(-n);
    } catch {
      return [];
    }
  }

  private lastErrorOf(pid: number): string | undefined {
    try {
      const lines = readFileSync(this.options.logFile, 'utf8').split('\n');
      const mine = lines.filter((l) => l.includes(`"pid":${pid},`) && /"level":(50|60)/.test(l));
      const other = lines.filter((l) => l !== '' && !l.startsWith('{'));
      return (mine.at(-1) ?? other.at(-1))?.slice(0, 400);
    } catch {
      return undefined;
    }
  }

  private spawn(): void {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of CONFIG_ENV) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: this.options.cwd,
      env: { ...env, ...this.options.env },
      stdio: ['ignore', this.logFd, this.logFd],
    });
    this.child = child;
    this.readyNow = false;
    this.spawnedAt = Date.now();
    const pid = child.pid ?? -1;
    this.events.push({ at: this.now(), kind: 'start', pid });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const unexpected = !this.expectingExit;
        const lastError = unexpected ? this.lastErrorOf(pid) : undefined;
        this.events.push({
          at: this.now(),
          kind: 'exit',
          pid,
          code,
          signal,
          unexpected,
          ...(lastError ? { lastError } : {}),
        });
        if (this.child === child) this.readyNow = false;
        resolve();
        if (unexpected && !this.stopped) {
          setTimeout(() => {
            if (!this.stopped && this.child === child) this.spawn();
          }, this.options.restartDelayMs ?? 300);
        }
      });
    });
    void this.probe(child);
  }

  private async probe(child: ChildProcess): Promise<void> {
    while (this.child === child && child.exitCode === null && child.signalCode === null) {
      try {
        const res = await fetch(`${this.options.url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200 && this.child === child && child.exitCode === null) {
          this.readyNow = true;
          this.events.push({
            at: this.now(),
            kind: 'ready',
            pid: child.pid ?? -1,
            startMs: Date.now() - this.spawnedAt,
          });
          for (const w of [...this.waiters]) w();
          return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
