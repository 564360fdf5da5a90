import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Logger } from '../log.js';
import type { Orders } from '../orders/index.js';
import { BackgroundLoop } from './background-loop.js';
import { type HintStep, hintStep } from './hints.js';
import { ShopLeases } from './leases.js';
import { overlapDue, pullShop } from './pull.js';
import { type PlanShop, planPushes, planShop } from './push-plan.js';
import { pushShop } from './push-send.js';
import { reconcileShop } from './reconcile.js';
import { Scheduler } from './scheduler.js';
import type { ShopConnector } from './shop-connectors.js';
import { ShopGate } from './shop-gate.js';
import { pauseShop, pauseState, resumeShop } from './shop-pause.js';

/**
 * Least time between two inbox batches, and between two planner passes, ms. Measured on PGlite
 * at the peak bench: one planner pass per applied order or batch (27 a second) and inbox batches
 * of one or two events took most of its single session, whose work blocks the event loop that
 * answers webhooks. A few tens of ms let the next batch or pass take what arrived meanwhile;
 * propagation and intake latency grow by at most that.
 *
 * Under load the inbox waits longer (INBOX_BUSY_GAP_MS once a batch claimed INBOX_BUSY_EVENTS
 * or more): a batch costs about the same few statements however many new orders it holds, so
 * fewer, larger batches leave more of the machine to answering webhooks. An order waits at most
 * the gap longer (250 ms) before it is applied.
 */
const INBOX_GAP_MS = 25;
const INBOX_BUSY_GAP_MS = 250;
const INBOX_BUSY_EVENTS = 20;
/**
 * Most events claimed per inbox batch. (Batches of 100 capped the intake at 400/s with the busy
 * gap, which the Shopify-only peak run hit; they were that small while a batch waited for its
 * re-fetch hints, which it no longer claims: see Orders.resolveHints.) A full batch means a
 * backlog: the next one follows after INBOX_GAP_MS, not the busy gap.
 */
const INBOX_BATCH = 500;
const PLANNER_GAP_MS = 100;
/**
 * Least time between two steps of a shop's hint resolver: one by one, a step reads about a
 * second of the shop's calls; in the backlog mode each step is a pull, and back-to-back pulls
 * would each spend a call just to find the last second's orders.
 */
const HINT_GAP_MS = 200;
const HINT_PULL_GAP_MS = 1000;

/**
 * The daemon's main loop, per replica: the inbox worker, the push planner, one pusher per shop
 * this replica leases (each behind its shop's gate, so a slow or failing platform holds up
 * nobody else), and the scheduled jobs (pulls, unpaid-hold expiry, reconciliation, probes of
 * paused shops). Work on a shop happens only on the replica holding its lease.
 */
export class SyncEngine {
  readonly replicaId = `stockd-${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly leases: ShopLeases;
  readonly gates = new Map<string, ShopGate>();
  private readonly inbox: BackgroundLoop;
  private readonly planner: BackgroundLoop;
  private readonly pushers = new Map<string, BackgroundLoop>();
  private readonly hinters = new Map<string, BackgroundLoop>();
  /** The pull running per shop: a second request joins it (one cursor, one pull at a time). */
  private readonly pulls = new Map<string, { done: Promise<void>; skipOverlap: boolean }>();
  /** Each shop's last pull that re-read the overlap and ended caught up: start and duration, ms. */
  private readonly overlapPulled = new Map<string, { started: number; tookMs: number }>();
  private readonly scheduler: Scheduler;
  private readonly plans: Map<string, PlanShop>;
  /** Work running per shop on this replica (its lease is not given back meanwhile). */
  private readonly working = new Map<string, number>();

  constructor(
    private readonly inv: Inventory,
    private readonly orders: Orders,
    private readonly shops: readonly Config['shops'][number][],
    private readonly connectors: ReadonlyMap<string, ShopConnector>,
    private readonly sync: Config['sync'],
    private readonly log: Logger,
  ) {
    this.plans = new Map(shops.map((s) => [s.id, s]));
    this.leases = new ShopLeases(inv, this.replicaId, [...connectors.keys()], sync.leaseMs, (err) =>
      log.error({ err, component: 'leases' }, 'lease renewal failed'),
    );
    const inboxLog = log.child({ component: 'inbox' });
    let lastClaimed = 0;
    this.inbox = new BackgroundLoop(
      'inbox',
      async () => {
        const r = await orders.processBatch(INBOX_BATCH);
        lastClaimed = r.claimed;
        if (r.claimed > 0) inboxLog.debug({ ...r, results: undefined }, 'inbox batch');
        return r.claimed > 0;
      },
      inboxLog,
      {
        idleMs: sync.inboxIdleMs,
        // A full batch means a backlog (see INBOX_BATCH): the short gap.
        minGapMs: () =>
          lastClaimed >= INBOX_BUSY_EVENTS && lastClaimed < INBOX_BATCH ? INBOX_BUSY_GAP_MS : INBOX_GAP_MS,
      },
    );
    const pushLog = log.child({ component: 'push' });
    this.planner = new BackgroundLoop(
      'push planner',
      async () => {
        const plan = await planPushes(inv, this.plans);
        if (plan.listings > 0) for (const p of this.pushers.values()) p.wake();
        return plan.skus > 0;
      },
      pushLog,
      { idleMs: sync.pushIdleMs, minGapMs: PLANNER_GAP_MS },
    );
    for (const [shopId, sc] of connectors) {
      const gate = new ShopGate(shopId, sc.limits, Date.now, (until) => {
        inv
          .transaction((tx) =>
            tx.execute(sql`UPDATE shop SET throttled_until = ${until} WHERE id = ${shopId}`),
          )
          .catch((err) => log.warn({ err, shop: shopId }, 'could not record a throttle'));
      });
      this.gates.set(shopId, gate);
      const hintLog = log.child({ component: 'hints', shop: shopId });
      let lastMode: HintStep['mode'] = 'idle';
      this.hinters.set(
        shopId,
        new BackgroundLoop(
          `hints ${shopId}`,
          async () => {
            lastMode = await this.on(shopId, () => this.hintStep(sc, gate, hintLog));
            return lastMode !== 'idle';
          },
          hintLog,
          {
            idleMs: sync.inboxIdleMs,
            minGapMs: () => (lastMode === 'pull' ? HINT_PULL_GAP_MS : HINT_GAP_MS),
          },
        ),
      );
      const shopLog = pushLog.child({ shop: shopId });
      this.pushers.set(
        shopId,
        new BackgroundLoop(`stock push ${shopId}`, () => this.pushStep(sc, gate, shopLog), shopLog, {
          idleMs: sync.pushIdleMs,
        }),
      );
    }
    this.scheduler = new Scheduler(log.child({ component: 'scheduler' }), {
      pullCron: sync.pullCron,
      expiryCron: sync.expiryCron,
      reconcileCron: sync.reconcileCron,
      probeMs: sync.pauseProbeMs,
      shopIds: [...connectors.keys()],
      pull: (shopId) => this.scheduledPull(shopId),
      expire: async () => {
        const n = await orders.expireUnpaid();
        if (n > 0) log.info({ job: 'expire-unpaid', released: n }, 'unpaid holds released');
      },
      reconcile: (shopId) => this.reconcile(shopId),
      probe: (shopId) => this.probe(shopId),
    });
  }

  async start(): Promise<void> {
    await this.leases.start();
    this.inbox.start();
    this.planner.start();
    for (const p of this.pushers.values()) p.start();
    for (const h of this.hinters.values()) h.start();
    this.scheduler.start();
  }

  /** New deliveries were stored (orders, or re-fetch hints). */
  wakeInbox(): void {
    this.inbox.wake();
    for (const h of this.hinters.values()) h.wake();
  }

  /** Stock changed (orders applied). */
  wakePush(): void {
    this.planner.wake();
  }

  /** Runs work on a shop, counted so the shop's lease is not handed over while it runs. */
  private async on<T>(shopId: string, work: () => Promise<T>): Promise<T> {
    this.working.set(shopId, (this.working.get(shopId) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.working.set(shopId, (this.working.get(shopId) ?? 1) - 1);
    }
  }

  private pushStep(sc: ShopConnector, gate: ShopGate, log: Logger): Promise<boolean> {
    return this.on(sc.shop.id, () => this.push(sc, gate, log));
  }

  private async push(sc: ShopConnector, gate: ShopGate, log: Logger): Promise<boolean> {
    const shopId = sc.shop.id;
    // A paused shop's round claims nothing (see pushShop): no round trip of its own to ask.
    if (!this.leases.holds(shopId) || gate.waitMs() > 0) return false;
    const r = await pushShop(this.inv, sc, gate, {
      maxAttempts: this.sync.pushMaxAttempts,
      changeReadBackMs: this.sync.changeReadBackMs,
      changeReadBackForMs: this.sync.changeReadBackForMs,
      holds: () => this.leases.holds(shopId),
    });
    if (r.pause) {
      await pauseShop(this.inv, shopId, `stock push refused: ${r.pause}`);
      log.error({ reason: r.pause }, 'shop paused: the platform refused our credentials or configuration');
      return false;
    }
    if (r.error) log.warn({ error: r.error, waitMs: gate.waitMs() }, 'stock push failed; shop backs off');
    else if (r.sent > 0) log.info(r, 'stock pushed');
    return r.sent > 0 && !r.error;
  }

  /**
   * Pulls one shop now, if this replica holds it and it is not paused. While a pull of the shop
   * runs, another request joins it rather than starting a second pull on the same cursor.
   */
  pull(shopId: string, options: { skipOverlap?: boolean } = {}): Promise<void> {
    const skipOverlap = options.skipOverlap === true;
    const running = this.pulls.get(shopId);
    // A pull that re-reads the overlap does not join one that skips it (hint pulls run back to
    // back through a backlog): it runs next, and later requests join it.
    if (running && (skipOverlap || !running.skipOverlap)) return running.done;
    const after = running ? running.done.catch(() => {}) : Promise.resolve();
    const done = after
      .then(() => this.on(shopId, () => this.pullNow(shopId, { skipOverlap })))
      .finally(() => {
        if (this.pulls.get(shopId)?.done === done) this.pulls.delete(shopId);
      });
    this.pulls.set(shopId, { done, skipOverlap });
    return done;
  }

  /**
   * The scheduled pull. It re-reads the connector's overlap (the safety net for changes that
   * became visible late) unless the last pull that did started less than five times its own
   * duration ago, and reads from the watermark then: at most a fifth of a shop's time goes to
   * re-reading. A quiet shop's overlap pull takes a few calls, so it runs on every schedule; at a
   * sale's volume it is minutes of orders, and runs less often, but at least every half of the
   * overlap, so every instant is still re-read at least once.
   */
  private scheduledPull(shopId: string): Promise<void> {
    const sc = this.connectors.get(shopId);
    const due = !sc || overlapDue(this.overlapPulled.get(shopId), Date.now(), sc.connector.pullOverlapMs);
    return this.pull(shopId, { skipOverlap: !due });
  }

  /** One step of the shop's re-fetch hint resolver (see hints.ts). */
  private async hintStep(sc: ShopConnector, gate: ShopGate, log: Logger): Promise<HintStep['mode']> {
    const shopId = sc.shop.id;
    // A paused shop has no due hints (see dueHints), so its step is idle.
    if (!this.leases.holds(shopId) || gate.waitMs() > 0) return 'idle';
    const step = await hintStep(this.orders, sc, gate, () => this.pull(shopId, { skipOverlap: true }));
    const r = step.report;
    if (r && (r.parked > 0 || r.retried > 0)) log.warn({ mode: step.mode, ...r }, 're-fetch hints failed');
    else if (r && r.claimed > 0) log.debug({ mode: step.mode, ...r }, 're-fetch hints read back');
    return step.mode;
  }

  private async pullNow(shopId: string, options: { skipOverlap?: boolean }): Promise<void> {
    const sc = this.connectors.get(shopId);
    const gate = this.gates.get(shopId);
    // A paused shop is not pulled (see pullShop).
    if (!sc || !gate || !this.leases.holds(shopId) || gate.waitMs() > 0) return;
    const log = this.log.child({ shop: shopId, job: 'pull' });
    const started = Date.now();
    const r = await pullShop(this.inv, this.orders, sc, {
      gate,
      holds: () => this.leases.holds(shopId),
      skipOverlap: options.skipOverlap === true,
    });
    if (!r.error && r.caughtUp && options.skipOverlap !== true)
      this.overlapPulled.set(shopId, { started, tookMs: Date.now() - started });
    if (r.pause) {
      await pauseShop(this.inv, shopId, `order pull refused: ${r.pause}`);
      log.error({ reason: r.pause }, 'shop paused: the platform refused our credentials or configuration');
    } else if (r.error)
      log.warn({ error: r.error, pages: r.pages }, 'pull failed; cursor kept at the last stored page');
    else if (r.orders > 0 || r.rejects > 0 || r.hintsSettled > 0) log.info({ ...r, ...options }, 'pulled');
  }

  /** Full reconciliation of one shop (see reconcile.ts). */
  reconcile(shopId: string): Promise<void> {
    return this.on(shopId, () => this.reconcileNow(shopId));
  }

  private async reconcileNow(shopId: string): Promise<void> {
    const sc = this.connectors.get(shopId);
    const gate = this.gates.get(shopId);
    const shop = this.plans.get(shopId);
    if (!sc || !gate || !shop || !this.leases.holds(shopId)) return;
    if (await pauseState(this.inv, shopId)) return;
    const r = await reconcileShop(this.inv, sc, shop, gate, { heldBackGraceMs: this.sync.heldBackGraceMs });
    const log = this.log.child({ shop: shopId, job: 'reconcile' });
    if (r.error) log.warn(r, 'reconciliation failed');
    else if (r.drifted > 0 || r.expiredHeldBack > 0)
      log.warn(r, 'platform quantities drifted; corrections queued');
    else log.debug(r, 'reconciled');
    this.pushers.get(shopId)?.wake();
  }

  /** A paused shop this replica holds: resume it when its connection works again. */
  probe(shopId: string): Promise<void> {
    return this.on(shopId, () => this.probeNow(shopId));
  }

  private async probeNow(shopId: string): Promise<void> {
    const sc = this.connectors.get(shopId);
    const gate = this.gates.get(shopId);
    if (!sc || !gate || !this.leases.holds(shopId)) return;
    const paused = await pauseState(this.inv, shopId);
    if (!paused || paused.by === 'admin') return;
    const check = await gate.run(() => sc.connector.checkConnection());
    const log = this.log.child({ shop: shopId, job: 'probe' });
    if (!check.ok) {
      log.debug({ error: check.error }, 'shop still paused');
      return;
    }
    await this.resume(shopId);
    log.info('connection works again; shop resumed');
  }

  /** Resumes a paused shop and plans all its listings again. False when it was not paused. */
  async resume(shopId: string): Promise<boolean> {
    const resumed = await resumeShop(this.inv, shopId);
    const shop = this.plans.get(shopId);
    if (resumed && shop) await planShop(this.inv, shop);
    this.pushers.get(shopId)?.wake();
    return resumed;
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
    await this.inbox.stop();
    await this.planner.stop();
    await Promise.all([...this.pushers.values(), ...this.hinters.values()].map((p) => p.stop()));
    for (const g of this.gates.values()) g.close();
    await this.leases.stop();
  }
}
