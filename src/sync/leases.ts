import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';

/**
 * Which shops this replica works on (pulls, pushes, read-backs, connection probes). Several
 * daemons on one PostgreSQL share the shops: each replica records a heartbeat in `replica`,
 * holds at most its fair share (shops / live replicas, rounded up) of shop leases, renews them
 * every third of the lease time, gives extras back when another replica appears, and takes
 * over the shops of a replica that died once their lease runs out. A graceful stop gives the
 * leases back at once. PGlite has one process, which holds every shop.
 */
export class ShopLeases {
  private held = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly inv: Inventory,
    readonly replicaId: string,
    private readonly shopIds: readonly string[],
    private readonly leaseMs: number,
    private readonly onError: (err: unknown) => void = () => {},
    /** True while work on the shop is running here: its lease is given back only after. */
    private readonly busy: (shopId: string) => boolean = () => false,
  ) {}

  /** Shops to give back once their work in flight ends (no new work starts on them). */
  private draining = new Set<string>();

  /** Renews now, then every third of the lease time. */
  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(
      () => {
        this.renewing ??= this.renew()
          .catch(this.onError)
          .finally(() => {
            this.renewing = undefined;
          });
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  /** True while this replica holds the shop's lease (with a margin before it runs out) and keeps it. */
  holds(shopId: string): boolean {
    const until = this.held.get(shopId);
    return until !== undefined && until > Date.now() && !this.draining.has(shopId);
  }

  get shops(): string[] {
    return [...this.held.keys()].filter((s) => this.holds(s));
  }

  /** Heartbeat, renew what is held, give back extras, take free or expired shops up to the fair share. */
  async renew(): Promise<void> {
    if (this.shopIds.length === 0) return;
    const lease = this.leaseMs;
    const started = Date.now();
    const mine = await this.inv.transaction(async (tx) => {
      await tx.execute(sql`
        INSERT INTO replica (id) VALUES (${this.replicaId})
        ON CONFLICT (id) DO UPDATE SET seen_at = now()`);
      await tx.execute(sql`
        DELETE FROM replica WHERE seen_at < now() - ${lease * 3} * interval '1 millisecond'`);
      const [live] = await tx.query<{ n: number }>(sql`
        SELECT COUNT(*)::int AS n FROM replica WHERE seen_at > now() - ${lease} * interval '1 millisecond'`);
      const fair = Math.ceil(this.shopIds.length / Math.max(1, live?.n ?? 1));
      const renewed = await tx.query<{ id: string }>(sql`
        UPDATE shop SET lease_until = now() + ${lease} * interval '1 millisecond'
        WHERE id = ANY(${[...this.shopIds]}::text[]) AND lease_owner = ${this.replicaId}
        RETURNING id`);
      let ids = renewed.map((r) => r.id).sort();
      if (ids.length > fair) {
        // Extras stop taking new work now and are given back once their work in flight ends,
        // so two replicas never work on one shop at once.
        const extra = ids.slice(fair);
        for (const id of extra) this.draining.add(id);
        const idle = extra.filter((id) => !this.busy(id));
        if (idle.length > 0)
          await tx.execute(sql`
            UPDATE shop SET lease_owner = NULL, lease_until = NULL
            WHERE id = ANY(${idle}::text[]) AND lease_owner = ${this.replicaId}`);
        ids = ids.filter((id) => !idle.includes(id));
      } else {
        for (const id of ids) this.draining.delete(id);
      }
      if (ids.length < fair) {
        const taken = await tx.query<{ id: string }>(sql`
          UPDATE shop SET lease_owner = ${this.replicaId}, lease_until = now() + ${lease} * interval '1 millisecond'
          WHERE id IN (
            SELECT id FROM shop WHERE id = ANY(${[...this.shopIds]}::text[])
              AND (lease_until IS NULL OR lease_until < now())
            ORDER BY id LIMIT ${fair - ids.length} FOR UPDATE SKIP LOCKED)
          RETURNING id`);
        ids = [...ids, ...taken.map((r) => r.id)];
      }
      return ids;
    });
    // Counted from before the round trip, with a margin, so we stop before another may start.
    const until = started + Math.floor(lease * 0.8);
    this.held = new Map(mine.map((id) => [id, until]));
    for (const id of this.draining) if (!this.held.has(id)) this.draining.delete(id);
  }

  /** Stops renewing and gives every lease back, so another replica takes over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
    const ids = [...this.held.keys()];
    this.held.clear();
    await this.inv.transaction(async (tx) => {
      if (ids.length > 0)
        await tx.execute(sql`
          UPDATE shop SET lease_owner = NULL, lease_until = NULL
          WHERE id = ANY(${ids}::text[]) AND lease_owner = ${this.replicaId}`);
      await tx.execute(sql`DELETE FROM replica WHERE id = ${this.replicaId}`);
    });
  }
}
