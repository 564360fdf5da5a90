/**
 * How the daemon's own process is doing, for the status report: memory, uptime, and how long
 * callbacks waited for the event loop (`perf_hooks.monitorEventLoopDelay`). Everything the
 * daemon does shares that loop (webhook acks, batches, pushes; on PGlite the database too), so
 * its delay is what a webhook waits on top of its own work: the first sign of an overload.
 *
 * The delay is reported over the last full minute (in the first minute: since the start): a
 * histogram since start would hide today's peak behind the quiet hours before it.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopDelay {
  /** Milliseconds, over the window. */
  p50: number;
  p99: number;
  max: number;
  /** Seconds the window covers. */
  windowSeconds: number;
}

export interface ProcessStats {
  uptimeSeconds: number;
  rssMb: number;
  heapUsedMb: number;
  eventLoopDelay: LoopDelay;
}

const ms = (ns: number) => Math.round(ns / 1e5) / 10;

export class ProcessMonitor {
  private readonly histogram: IntervalHistogram;
  private previous: LoopDelay | null = null;
  private since = Date.now();
  private readonly timer: NodeJS.Timeout;

  /** `windowMs`: the window's length. */
  constructor(windowMs = 60_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.timer = setInterval(() => this.rotate(), windowMs);
    this.timer.unref();
  }

  /** Memory now; the event loop's delay over the last full window (the first: so far). */
  stats(): ProcessStats {
    const mem = process.memoryUsage();
    return {
      uptimeSeconds: Math.round(process.uptime()),
      rssMb: Math.round(mem.rss / 1048576),
      heapUsedMb: Math.round(mem.heapUsed / 1048576),
      eventLoopDelay: this.previous ?? this.read(),
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private read(): LoopDelay {
    const h = this.histogram;
    const empty = h.count === 0;
    return {
      p50: empty ? 0 : ms(h.percentile(50)),
      p99: empty ? 0 : ms(h.percentile(99)),
      max: empty ? 0 : ms(h.max),
      windowSeconds: Math.round((Date.now() - this.since) / 1000),
    };
  }

  /** Closes the current window (the timer does so every `windowMs`). */
  rotate(): void {
    this.previous = this.read();
    this.histogram.reset();
    this.since = Date.now();
  }
}
