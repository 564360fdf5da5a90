import PQueue from 'p-queue';
import { ConnectorError, type ErrorAction, type RateLimitSpec } from '../../connectors/contract.js';

/**
 * Which calls go first when they queue at a shop's gate (at a sale, the platform's rate limit is
 * the scarce thing): stock pushes, since every sale on every platform waits for them (a listing's
 * quantity covers all its orders at once); then pulls and reconciliation reads (a page of orders
 * or listings per call); then re-fetch hint read-backs and probes (one order each). Pushes go
 * first up to {@link PUSH_SHARE} of the gate's recent requests while other calls wait: at a
 * sale there are always more listings to push, and the orders the pulls bring in are what the
 * next pushes must count.
 */
export const GATE_PRIORITY = { push: 2, pull: 1, read: 0 } as const;

/** Share of the recent requests (the last two intervals' worth) pushes take before others' turn. */
export const PUSH_SHARE = 0.25;

/**
 * Every call this replica makes to one shop's platform goes through its gate: a p-queue sized
 * from the connector's limits (requests in flight, requests per interval), paused while the
 * platform has throttled us (Retry-After, throttle codes), with a backoff that grows with the
 * shop's consecutive failures (5xx, timeouts) and resets on success. Other shops have their own
 * gates, so a failing platform never slows the others.
 */
export class ShopGate {
  private readonly queue: PQueue;
  private resumeTimer: NodeJS.Timeout | undefined;
  private throttledUntilMs = 0;
  private failures = 0;
  private backoffUntilMs = 0;
  /** Whether each of the last `window` requests started was a push. */
  private readonly recent: boolean[] = [];
  private readonly window: number;

  constructor(
    readonly shopId: string,
    limits: RateLimitSpec,
    private readonly now: () => number = Date.now,
    /** Told of each new throttle (the engine records it for the status page). */
    private readonly onThrottle: (until: Date) => void = () => {},
  ) {
    this.window = Math.max(2, 2 * Math.max(1, limits.intervalCap));
    this.queue = new PQueue({
      concurrency: Math.max(1, limits.concurrency),
      intervalCap: Math.max(1, limits.intervalCap),
      interval: Math.max(0, limits.intervalMs),
    });
  }

  /**
   * Runs one platform call when the shop's limits allow; queued calls of a higher `priority`
   * go first (see {@link GATE_PRIORITY}). A call that makes several requests to the platform
   * (`requests`: a stock push to several Taobao items, a read of several Douyin products) takes
   * that many of the rate limit's slots, so the limit counts what the platform counts.
   */
  run<T>(call: () => Promise<T>, priority: number = GATE_PRIORITY.read, requests = 1): Promise<T> {
    const push = priority >= GATE_PRIORITY.push;
    // A push that has had its share while others wait goes behind every call already waiting.
    const at =
      push && this.othersWaiting() && this.pushShare() >= PUSH_SHARE ? GATE_PRIORITY.read - 1 : priority;
    const started = () => {
      this.recent.push(push);
      if (this.recent.length > this.window) this.recent.shift();
    };
    for (let i = 1; i < requests; i++) void this.queue.add(async () => started(), { priority: at });
    return this.queue.add(
      () => {
        started();
        return call();
      },
      { priority: at },
    );
  }

  /** Share of the recent requests that were pushes. */
  private pushShare(): number {
    if (this.recent.length === 0) return 0;
    let n = 0;
    for (const p of this.recent) if (p) n++;
    return n / this.recent.length;
  }

  private othersWaiting(): boolean {
    return this.queue.size > this.queue.sizeBy({ priority: GATE_PRIORITY.push });
  }

  /** The platform asked us to wait: hold every call to this shop for `ms`. */
  throttle(ms: number): void {
    const until = this.now() + Math.max(0, ms);
    if (until <= this.throttledUntilMs) return;
    this.throttledUntilMs = until;
    this.onThrottle(new Date(until));
    this.queue.pause();
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => this.queue.start(), Math.max(0, ms));
    this.resumeTimer.unref();
  }

  /**
   * A platform call failed: a throttle holds the shop for the platform's wait (default 2 s), a
   * refused credential or configuration changes nothing here (the caller pauses the shop), any
   * other failure backs the shop off. Returns the error's action and the wait before the next call.
   */
  failedWith(err: unknown): { action: ErrorAction; waitMs: number } {
    const action = err instanceof ConnectorError ? err.action : 'retry';
    if (action === 'rate_limited') {
      const waitMs = (err as { retryAfterMs?: number }).retryAfterMs ?? 2000;
      this.throttle(waitMs);
      return { action, waitMs };
    }
    if (action === 'config_error' || action === 'refresh_token') return { action, waitMs: 0 };
    return { action, waitMs: this.failed() };
  }

  /** A call failed for a transient reason: returns how long to wait before the next attempt. */
  failed(): number {
    this.failures++;
    const ms = Math.min(60_000, 500 * 2 ** Math.min(this.failures - 1, 7)) * (0.5 + Math.random() / 2);
    this.backoffUntilMs = this.now() + ms;
    return Math.round(ms);
  }

  succeeded(): void {
    this.failures = 0;
    this.backoffUntilMs = 0;
  }

  /** Milliseconds before the shop may be called again (throttle or backoff); 0 when it may now. */
  waitMs(): number {
    return Math.max(0, Math.max(this.throttledUntilMs, this.backoffUntilMs) - this.now());
  }

  get throttledUntil(): Date | null {
    return this.throttledUntilMs > this.now() ? new Date(this.throttledUntilMs) : null;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Calls waiting or running. */
  get busy(): number {
    return this.queue.size + this.queue.pending;
  }

  close(): void {
    clearTimeout(this.resumeTimer);
    this.queue.clear();
    this.queue.start();
  }
}
