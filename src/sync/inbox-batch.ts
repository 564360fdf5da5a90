/**
 * How many events the inbox worker claims per batch.
 *
 * On PostgreSQL a batch's transaction runs beside everything else (a pool of connections), so
 * the batch is as large as the backlog allows, up to `max`: larger batches apply more orders a
 * second. On PGlite the database has one session and runs one transaction at a time, so while
 * a batch applies, every webhook's insert into the inbox waits for it: at 500 orders a batch
 * that was over a second per acknowledgement at the peak (bench, session 10), and platforms
 * give up on a webhook after a few seconds. There the batch is sized to take about `budgetMs`,
 * from the time per event the last batches took.
 */
export class InboxBatchSize {
  private size: number;

  constructor(
    /** Most events per batch. */
    readonly max: number,
    /** Target duration of one batch, ms; null: no target (always `max`). */
    private readonly budgetMs: number | null,
    /** Fewest events per batch the target may bring it down to. */
    readonly min = 20,
  ) {
    this.size = budgetMs === null ? max : min;
  }

  /** Events the next batch claims. */
  get next(): number {
    return this.size;
  }

  /**
   * Records a batch: `claimed` events applied in `ms`. A batch of fewer than `min` events says
   * little about the time per event and leaves the size as it is. The size moves half way to
   * the new estimate, so one slow batch (a checkpoint, a CPU taken by another process) does not
   * swing it.
   */
  record(claimed: number, ms: number): void {
    if (this.budgetMs === null || claimed < this.min) return;
    const perEvent = Math.max(ms, 1) / claimed;
    const target = Math.min(this.max, Math.max(this.min, Math.floor(this.budgetMs / perEvent)));
    const diff = target - this.size;
    if (diff !== 0) this.size += Math.sign(diff) * Math.max(1, Math.floor(Math.abs(diff) / 2));
  }
}
