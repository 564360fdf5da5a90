import type { Logger } from '../log.js';

export interface BackgroundLoopOptions {
  /** Sleep when a step found nothing to do; `wake()` cuts it short. Default 500 ms. */
  idleMs?: number;
  /**
   * Least time from the start of one step to the start of the next, ms. Default 0. Work that
   * arrives in a trickle of wake-ups (an order stored, a balance changed) is then taken a few at
   * a time instead of one by one: fewer, larger transactions. A function is asked again before
   * each step (a gap that follows the load).
   */
  minGapMs?: number | (() => number);
}

/**
 * Runs `step` again and again in the background: straight on while it reports more work, then
 * sleeping until woken (new work was stored) or the idle interval passes (retries coming due,
 * other replicas' leases running out). A failing step is logged and retried after the interval;
 * the loop never throws into the void. `stop()` lets the current step finish.
 */
export class BackgroundLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly idleMs: number;
  private readonly minGapMs: () => number;

  constructor(
    readonly name: string,
    /** One unit of work; resolves true when there may be more right away. */
    private readonly step: () => Promise<boolean>,
    private readonly log: Logger,
    options: BackgroundLoopOptions = {},
  ) {
    this.idleMs = options.idleMs ?? 500;
    const gap = options.minGapMs ?? 0;
    this.minGapMs = typeof gap === 'number' ? () => gap : gap;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work is waiting: end the sleep now, or skip the next one. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let lastStart = Number.NEGATIVE_INFINITY;
    while (this.running) {
      const gap = lastStart + this.minGapMs() - performance.now();
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      if (!this.running) break;
      lastStart = performance.now();
      let more = false;
      this.woken = false;
      try {
        more = await this.step();
      } catch (err) {
        this.log.error(
          { err, loop: this.name },
          `${this.name} step failed; retrying after the idle interval`,
        );
      }
      if (!more && !this.woken && this.running) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.idleMs);
      this.wakeUp = done;
    });
  }
}
