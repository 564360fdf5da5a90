import type { Logger } from '../log.js';
import type { Orders } from '../orders/index.js';

export interface InboxWorkerOptions {
  /** Events claimed per batch. Default 100. */
  batchSize?: number;
  /** Sleep between polls when the inbox is empty; `wake()` cuts it short. Default 500 ms. */
  idleMs?: number;
}

/**
 * Drains the inbox in the background: batch after batch while there is work, then sleeps until
 * woken (a delivery was stored) or the idle interval passes (retries coming due, other
 * replicas' leases running out). A failing batch is logged and retried after the interval; the
 * loop never throws into the void. `stop()` lets the current batch finish.
 */
export class InboxWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly batchSize: number;
  private readonly idleMs: number;

  constructor(
    private readonly orders: Orders,
    private readonly log: Logger,
    options: InboxWorkerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 100;
    this.idleMs = options.idleMs ?? 500;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Ends the sleep early: new deliveries are waiting. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        const r = await this.orders.processBatch(this.batchSize);
        claimed = r.claimed;
        if (r.claimed > 0) {
          this.log.debug(
            { claimed: r.claimed, applied: r.applied, retried: r.retried, parked: r.parked },
            'inbox batch',
          );
        }
      } catch (err) {
        this.log.error({ err }, 'inbox batch failed; retrying after the idle interval');
      }
      if (claimed === 0 && this.running) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.idleMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
