import { randomUUID } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import type { Inventory } from '../inventory/index.js';
import type { Logger } from '../log.js';
import type { Orders } from '../orders/index.js';
import { pullShop, takeLease } from './pull.js';
import type { ShopConnector } from './shop-connectors.js';

export interface SchedulerOptions {
  /** node-cron expression (with seconds) of the incremental pull of every shop. */
  pullCron: string;
  /** node-cron expression of the unpaid-hold expiry job. */
  expiryCron: string;
  /** Pull lease length; a replica renews it on each pull, a dead one's runs out. */
  leaseMs: number;
}

/**
 * Periodic jobs: an incremental pull per shop (on one replica at a time, via the shop's lease;
 * never overlapping itself) and the unpaid-hold expiry. Jobs log and go on; they never throw.
 */
export class Scheduler {
  /** This process, as the lease owner. */
  readonly owner = `stockd-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly inv: Inventory,
    private readonly orders: Orders,
    private readonly shops: ReadonlyMap<string, ShopConnector>,
    private readonly log: Logger,
    private readonly options: SchedulerOptions,
  ) {}

  start(): void {
    // node-cron logs to the console by default (e.g. each skipped overlapping run): route it to pino.
    cron.setLogger({
      info: (m) => this.log.debug({ source: 'node-cron' }, m),
      warn: (m) => this.log.debug({ source: 'node-cron' }, m),
      error: (m, err) => this.log.error({ source: 'node-cron', err }, String(m)),
      debug: (m) => this.log.trace({ source: 'node-cron' }, String(m)),
    });
    for (const sc of this.shops.values()) {
      this.tasks.push(
        cron.schedule(this.options.pullCron, () => this.track(this.pull(sc)), {
          name: `pull:${sc.shop.id}`,
          noOverlap: true,
        }),
      );
    }
    this.tasks.push(
      cron.schedule(this.options.expiryCron, () => this.track(this.expire()), {
        name: 'expire-unpaid',
        noOverlap: true,
      }),
    );
  }

  /** Pulls one shop now if this replica holds (or takes) its lease. */
  async pull(sc: ShopConnector): Promise<void> {
    const log = this.log.child({ shop: sc.shop.id, job: 'pull' });
    try {
      if (!(await takeLease(this.inv, sc.shop.id, this.owner, this.options.leaseMs))) {
        log.debug('another replica holds the pull lease');
        return;
      }
      const r = await pullShop(this.inv, this.orders, sc);
      if (r.error)
        log.warn({ error: r.error, pages: r.pages }, 'pull failed; cursor kept at the last stored page');
      else if (r.orders > 0 || r.rejects > 0) log.info(r, 'pulled');
    } catch (err) {
      log.error({ err }, 'pull job failed');
    }
  }

  private async expire(): Promise<void> {
    try {
      const n = await this.orders.expireUnpaid();
      if (n > 0) this.log.info({ job: 'expire-unpaid', released: n }, 'unpaid holds released');
    } catch (err) {
      this.log.error({ err, job: 'expire-unpaid' }, 'expiry job failed');
    }
  }

  private track(p: Promise<unknown>): Promise<unknown> {
    this.running.add(p);
    return p.finally(() => this.running.delete(p));
  }

  /** Stops the schedules and waits for running jobs to finish. */
  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.destroy()));
    await Promise.all([...this.running]);
  }
}
