import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../log.js';

export interface SchedulerJobs {
  /** node-cron expression (with seconds) of the incremental pull of every shop. */
  pullCron: string;
  /** node-cron expression of the unpaid-hold expiry job. */
  expiryCron: string;
  /** node-cron expression of the full reconciliation of every shop. */
  reconcileCron: string;
  /** Interval of the connection probe of paused shops, in ms. */
  probeMs: number;
  shopIds: readonly string[];
  pull(shopId: string): Promise<void>;
  expire(): Promise<void>;
  reconcile(shopId: string): Promise<void>;
  probe(shopId: string): Promise<void>;
}

/**
 * The periodic jobs (node-cron): per shop an incremental pull, a reconciliation and a probe while
 * paused; and the unpaid-hold expiry. Each job never overlaps itself (`noOverlap`); the jobs
 * themselves check that this replica holds the shop, so a tick runs on one replica only. Jobs
 * log and go on; they never throw.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly log: Logger,
    private readonly jobs: SchedulerJobs,
  ) {}

  start(): void {
    // node-cron logs to the console by default (e.g. each skipped overlapping run): route it to pino.
    cron.setLogger({
      info: (m) => this.log.debug({ source: 'node-cron' }, m),
      warn: (m) => this.log.debug({ source: 'node-cron' }, m),
      error: (m, err) => this.log.error({ source: 'node-cron', err }, String(m)),
      debug: (m) => this.log.trace({ source: 'node-cron' }, String(m)),
    });
    const probeSeconds = Math.max(1, Math.round(this.jobs.probeMs / 1000));
    const probeCron =
      probeSeconds < 60
        ? `*/${probeSeconds} * * * * *`
        : `0 */${Math.max(1, Math.round(probeSeconds / 60))} * * * *`;
    for (const shopId of this.jobs.shopIds) {
      this.every(this.jobs.pullCron, `pull:${shopId}`, () => this.jobs.pull(shopId));
      this.every(this.jobs.reconcileCron, `reconcile:${shopId}`, () => this.jobs.reconcile(shopId));
      this.every(probeCron, `probe:${shopId}`, () => this.jobs.probe(shopId));
    }
    this.every(this.jobs.expiryCron, 'expire-unpaid', () => this.jobs.expire());
  }

  private every(expression: string, name: string, job: () => Promise<void>): void {
    this.tasks.push(
      cron.schedule(
        expression,
        () =>
          this.track(
            job().catch((err) => this.log.error({ err, job: name }, `scheduled job ${name} failed`)),
          ),
        { name, noOverlap: true },
      ),
    );
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
