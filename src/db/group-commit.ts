/**
 * Group commit: writes that arrive while one is in flight wait and go together in the next
 * transaction. An idle writer starts at once (no added latency when quiet); under load, a
 * thousand webhooks a second become a few dozen transactions a second, each one statement,
 * instead of a thousand (PostgreSQL then flushes its log once per batch, not once per webhook).
 *
 * Each `add` is a group that commits whole or not at all. When a batch of several groups fails,
 * each group is written again on its own, so one bad group fails only its own callers.
 */
export class GroupCommit<T, R> {
  private pending: { items: readonly T[]; resolve(r: R[]): void; reject(e: unknown): void }[] = [];
  private running = false;

  constructor(
    /** Writes the items in one transaction; one answer per item, same order. */
    private readonly write: (items: readonly T[]) => Promise<R[]>,
    /** Most items per transaction. */
    private readonly maxItems = 500,
  ) {}

  add(items: readonly T[]): Promise<R[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0) {
        let n = 0;
        let take = 0;
        while (
          take < this.pending.length &&
          (take === 0 || n + this.pending[take]!.items.length <= this.maxItems)
        )
          n += this.pending[take++]!.items.length;
        const batch = this.pending.splice(0, take);
        try {
          const out = await this.write(batch.flatMap((g) => g.items));
          let at = 0;
          for (const g of batch) {
            g.resolve(out.slice(at, at + g.items.length));
            at += g.items.length;
          }
        } catch (err) {
          if (batch.length === 1) batch[0]!.reject(err);
          else await Promise.all(batch.map((g) => this.write(g.items).then(g.resolve, g.reject)));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
