/**
 * Drives the 双11 profile against the sandbox shops: places orders on the platforms at the
 * profile's rate (so the platforms' own stock moves), announces most of them by signed webhooks
 * (timed: the platform's view of our ack latency), leaves some for the scheduled pull, cancels
 * some, and runs the propagation tracers. While it runs, one progress line per second on stderr.
 *
 * Orders are placed on schedule whether or not their webhooks have gone out: like a platform's
 * webhook dispatcher, deliveries queue and at most `maxInFlight` are in flight; the queue wait is
 * reported apart from the POST itself. The tracers' webhooks skip that queue, so propagation
 * measures the daemon's pipeline, not the bench's dispatcher.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mulberry32 } from '../../../connectors/testing/sandbox-kit.js';
import {
  BUNDLES,
  type CatalogPlan,
  drawFrom,
  MIX,
  SIMPLE_SKUS,
  TRACER_STOCK,
  zipfSampler,
} from './catalog.js';
import { cpuSeconds, memoryMb, runQueueSeconds } from './daemon-process.js';
import {
  offeredBy,
  type Phase,
  type Profile,
  phaseAt,
  profileSeconds,
  rateAt,
  sustainedStart,
} from './profile.js';
import type { BenchPlatform, BenchShop } from './shops.js';

export interface PlacedOrder {
  shop: number;
  id: string;
  /** Epoch ms when the platform accepted the order. */
  at: number;
  mode: 'webhook' | 'pull';
  kind: 'sell' | 'generated' | 'tracer';
}

/** What the progress sampler reads from the daemon or its database. */
export interface Backlog {
  inboxPending: number;
  inboxDone: number;
  pushPending: number;
}

export interface ProgressSample {
  t: number;
  phase: Phase;
  offeredPerS: number;
  placedPerS: number;
  appliedPerS: number | null;
  inboxPending: number | null;
  pushPending: number | null;
  deliveryQueue: number;
  inFlight: number;
  daemonCpuPct: number | null;
  daemonRssMb: number | null;
}

export interface DriveOptions {
  profile: Profile;
  /** Share of orders per platform. */
  weights: Record<BenchPlatform, number>;
  /** Run the propagation tracers during the sustained window. */
  tracers: boolean;
  /** Every buyer order one line (the profile before session 12); otherwise {@link MIX}'s `lines`. */
  singleLine: boolean;
  /** Webhook POSTs in flight at most. */
  maxInFlight: number;
  seed: number;
  /** The daemon's pid, for CPU and memory. */
  daemonPid: number;
  /** Reads the backlog (null when the read failed or timed out). */
  backlog: () => Promise<Backlog | null>;
  /** After the profile: wait at least this long (for the pull to find the last orders). */
  minDrainMs: number;
  /** ... and at most this long for the inbox and the push outbox to empty. */
  maxDrainMs: number;
  /** Called once when the sustained window starts and once when it ends (CPU of other processes). */
  onWindow?: (edge: 'start' | 'end') => Promise<void>;
  label: string;
}

export interface TracerSample {
  tracer: string;
  origin: BenchPlatform;
  destination: BenchPlatform;
  /** ms from the order placed on the origin to the new quantity seen on the destination; null = timeout. */
  ms: number | null;
  /** When the tracer order was placed: at the normal rate (the quiet lead-in) or at the peak. */
  phase: 'normal' | 'peak';
}

export interface DriveResult {
  startedAt: number;
  /** Epoch ms of the sustained window. */
  window: { start: number; end: number };
  driveEndAt: number;
  drainedAt: number;
  drained: boolean;
  orders: PlacedOrder[];
  counts: {
    offered: number;
    placed: number;
    placedInWindow: number;
    sells: number;
    generated: number;
    generatedNone: number;
    pullOnly: number;
    cancelled: number;
    cancelFailed: number;
    /** Buyer orders not placed: every line's listing showed fewer units (sold out there). */
    refused: number;
    /** Buyer order lines dropped because their listing showed fewer units, by SKU. */
    refusedBySku: Record<string, number>;
    /** Lines of the buyer orders placed. */
    sellLines: number;
    /**
     * Units the platforms sold of each scarce SKU, net of cancellations. Only the driver's buyer
     * orders sell them (the generators never see their listings), so this is exact.
     */
    scarceUnitsSold: Record<string, number>;
    deliveries: number;
    deliveryFailures: number;
    /** Webhooks still queued when the run ended (the daemon could not take them in time). */
    undelivered: number;
  };
  /** Webhook POST durations (ms) of deliveries sent in the sustained window, and their queue waits. */
  ack: { ms: number[]; queueMs: number[]; byPlatform: Record<string, number[]> };
  tracers: TracerSample[];
  /** Driver event-loop delay in the sustained window, ms. */
  driverLoopDelay: { p50: number; p99: number; max: number };
  /** CPU seconds of the bench process itself in the sustained window. */
  driverCpuSeconds: number;
  /** API calls each platform's sandbox served over the whole run, by method. */
  apiCalls: Record<string, Record<string, number>>;
  daemon: {
    cpuSecondsTotal: number | null;
    cpuSecondsWindow: number | null;
    /** Seconds its event loop thread waited for a CPU in the window (the machine's other work). */
    runQueueSecondsWindow: number | null;
    peakRssMb: number | null;
  };
  /** Every sale (+) and cancellation (-) of a scarce SKU on a platform, in order. */
  scarceSales: { at: number; sku: string; units: number }[];
  series: ProgressSample[];
}

const TRACER_TIMEOUT_MS = 60_000;

export async function drive(
  shops: readonly BenchShop[],
  plan: CatalogPlan,
  o: DriveOptions,
): Promise<DriveResult> {
  const rng = mulberry32(o.seed);
  const zipf = zipfSampler(SIMPLE_SKUS, MIX.zipf);
  const p = o.profile;
  const cumulativeWeights: number[] = [];
  let wsum = 0;
  for (const s of shops) {
    wsum += o.weights[s.platform];
    cumulativeWeights.push(wsum);
  }
  const pickShop = () => {
    const x = rng() * wsum;
    return cumulativeWeights.findIndex((c) => x < c);
  };
  const pickLines = () => (o.singleLine ? 1 : drawFrom(MIX.lines, rng()));
  const pickQuantity = () => drawFrom(MIX.quantities, rng());
  const tracerIndex = Array.from({ length: plan.tracers.length }, (_, i) => SIMPLE_SKUS + BUNDLES + i);
  const scarce = new Set(plan.scarce);

  const orders: PlacedOrder[] = [];
  const counts: DriveResult['counts'] = {
    offered: 0,
    placed: 0,
    placedInWindow: 0,
    sells: 0,
    generated: 0,
    generatedNone: 0,
    pullOnly: 0,
    cancelled: 0,
    cancelFailed: 0,
    refused: 0,
    refusedBySku: {},
    sellLines: 0,
    scarceUnitsSold: {},
    deliveries: 0,
    deliveryFailures: 0,
    undelivered: 0,
  };
  const ack: DriveResult['ack'] = { ms: [], queueMs: [], byPlatform: {} };
  const tracers: TracerSample[] = [];
  const series: ProgressSample[] = [];
  const scarceSales: DriveResult['scarceSales'] = [];

  const startedAt = Date.now();
  const windowStart = startedAt + sustainedStart(p) * 1000;
  const windowEnd = startedAt + profileSeconds(p) * 1000;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;

  // -- webhook dispatcher --------------------------------------------------------------------
  const queue: { shop: number; id: string; event: 'created' | 'updated'; queuedAt: number }[] = [];
  let head = 0;
  let inFlight = 0;
  let idleResolvers: (() => void)[] = [];
  /** Set once the run is over: deliveries still queued are dropped (counted as undelivered). */
  let closed = false;
  const pump = () => {
    while (!closed && inFlight < o.maxInFlight && head < queue.length) {
      const d = queue[head++]!;
      if (head > 10_000) {
        queue.splice(0, head);
        head = 0;
      }
      inFlight++;
      const shop = shops[d.shop]!;
      const sentAt = Date.now();
      const t0 = performance.now();
      void shop.announce(d.id, d.event).then(
        (status) => settle(d, shop, sentAt, performance.now() - t0, status),
        () => settle(d, shop, sentAt, performance.now() - t0, 0),
      );
    }
    if (inFlight === 0 && head >= queue.length) for (const r of idleResolvers.splice(0)) r();
  };
  const settle = (d: (typeof queue)[number], shop: BenchShop, sentAt: number, ms: number, status: number) => {
    inFlight--;
    counts.deliveries++;
    if (status < 200 || status >= 300) counts.deliveryFailures++;
    else if (inWindow(sentAt)) {
      ack.ms.push(ms);
      ack.queueMs.push(sentAt - d.queuedAt);
      const mine = ack.byPlatform[shop.platform] ?? [];
      mine.push(ms);
      ack.byPlatform[shop.platform] = mine;
    }
    pump();
  };
  const enqueue = (shop: number, id: string, event: 'created' | 'updated') => {
    queue.push({ shop, id, event, queuedAt: Date.now() });
    pump();
  };
  const deliveriesIdle = () =>
    inFlight === 0 && head >= queue.length
      ? Promise.resolve()
      : new Promise<void>((resolve) => idleResolvers.push(resolve));

  // -- orders ---------------------------------------------------------------------------------
  let pendingCancels = 0;
  const cancelLater = (shopIndex: number, id: string, announce: boolean, scarceUnits: [string, number][]) => {
    pendingCancels++;
    const t = setTimeout(
      () => {
        pendingCancels--;
        try {
          shops[shopIndex]!.cancel(id);
          counts.cancelled++;
          for (const [sku, units] of scarceUnits) {
            counts.scarceUnitsSold[sku]! -= units;
            scarceSales.push({ at: Date.now(), sku, units: -units });
          }
          if (announce) enqueue(shopIndex, id, 'updated');
        } catch {
          counts.cancelFailed++;
        }
      },
      2000 + rng() * 8000,
    );
    t.unref();
  };

  /**
   * The sandbox's generator, with the tracer and scarce listings hidden (shown as sold out for
   * the call, which is synchronous) so no generated order touches them.
   */
  const hidden = [
    ...tracerIndex,
    ...Array.from({ length: SIMPLE_SKUS }, (_, i) => i).filter((i) => scarce.has(plan.skuOf(shops[0]!, i))),
  ];
  const generate = (shop: BenchShop): string | undefined => {
    const refs = hidden.map((i) => shop.listings[i]!.stockRef);
    const saved = refs.map((r) => shop.quantity(r));
    for (const r of refs) shop.setQuantity(r, 0);
    try {
      return shop.generate();
    } finally {
      for (const [i, r] of refs.entries()) shop.setQuantity(r, saved[i]!);
    }
  };

  const placeOne = (now: number) => {
    const si = pickShop();
    const shop = shops[si]!;
    if (rng() < MIX.generated) {
      const id = generate(shop);
      if (id === undefined) {
        counts.generatedNone++;
        return;
      }
      counts.generated++;
      orders.push({ shop: si, id, at: now, mode: 'webhook', kind: 'generated' });
      enqueue(si, id, 'created');
    } else {
      // A cart of distinct listings; a buyer drops what the listing shows as sold out.
      const lines: { index: number; quantity: number; code: string }[] = [];
      const wanted = pickLines();
      for (let tries = 0; lines.length < wanted && tries < 4 * wanted; tries++) {
        const index = rng() < MIX.bundle ? SIMPLE_SKUS + Math.floor(rng() * BUNDLES) : zipf(rng());
        if (lines.some((l) => l.index === index)) continue;
        const quantity = pickQuantity();
        const code = plan.skuOf(shop, index);
        if (shop.quantity(shop.listings[index]!.stockRef) < quantity) {
          counts.refusedBySku[code] = (counts.refusedBySku[code] ?? 0) + 1;
          continue;
        }
        lines.push({ index, quantity, code });
      }
      let id: string;
      try {
        if (lines.length === 0) throw new Error('sold out');
        id = shop.sell(lines.map((l) => ({ ref: shop.listings[l.index]!.stockRef, quantity: l.quantity })));
      } catch {
        counts.refused++;
        return;
      }
      counts.sells++;
      counts.sellLines += lines.length;
      const scarceUnits: [string, number][] = [];
      for (const l of lines)
        if (scarce.has(l.code)) {
          counts.scarceUnitsSold[l.code] = (counts.scarceUnitsSold[l.code] ?? 0) + l.quantity;
          scarceSales.push({ at: now, sku: l.code, units: l.quantity });
          scarceUnits.push([l.code, l.quantity]);
        }
      const pull = rng() < MIX.pullOnly;
      if (pull) counts.pullOnly++;
      orders.push({ shop: si, id, at: now, mode: pull ? 'pull' : 'webhook', kind: 'sell' });
      if (!pull) enqueue(si, id, 'created');
      if (rng() < MIX.cancelled) cancelLater(si, id, !pull, scarceUnits);
    }
    counts.placed++;
    if (inWindow(now)) counts.placedInWindow++;
  };

  // -- tracers --------------------------------------------------------------------------------
  let driving = true;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const tracerLoop = async (k: number) => {
    const code = plan.tracers[k]!;
    const origin = shops[k % shops.length]!;
    const listing = tracerIndex[k]!;
    const others = shops.filter((s) => s !== origin);
    let sold = 0;
    // At the normal rate (a steady quiet load) and at the peak; not in the ramp between.
    const normalEnd = startedAt + p.normalSeconds * 1000;
    while (driving && Date.now() < windowEnd) {
      if (Date.now() >= normalEnd && Date.now() < windowStart) {
        await sleep(50);
        continue;
      }
      const phase = Date.now() < normalEnd ? 'normal' : 'peak';
      const t0 = performance.now();
      let id: string;
      try {
        id = origin.sell([{ ref: origin.listings[listing]!.stockRef, quantity: 1 }]);
      } catch {
        await sleep(200);
        continue;
      }
      sold++;
      orders.push({ shop: shops.indexOf(origin), id, at: Date.now(), mode: 'webhook', kind: 'tracer' });
      void origin.announce(id, 'created');
      const expected = TRACER_STOCK - sold;
      const pending = new Set(others);
      while (pending.size > 0 && performance.now() - t0 < TRACER_TIMEOUT_MS) {
        for (const s of [...pending]) {
          if (s.quantity(s.listings[listing]!.stockRef) === expected) {
            tracers.push({
              tracer: code,
              origin: origin.platform,
              destination: s.platform,
              ms: performance.now() - t0,
              phase,
            });
            pending.delete(s);
          }
        }
        if (pending.size > 0) await sleep(5);
      }
      for (const s of pending)
        tracers.push({ tracer: code, origin: origin.platform, destination: s.platform, ms: null, phase });
      await sleep(100);
    }
  };
  const tracerRuns = o.tracers ? plan.tracers.map((_, k) => tracerLoop(k)) : [];

  // -- progress -------------------------------------------------------------------------------
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let lastSample = {
    at: Date.now(),
    placed: 0,
    offered: 0,
    done: null as number | null,
    cpu: cpuSeconds(o.daemonPid),
  };
  let latest: Backlog | null = null;
  let reading = false;
  const readBacklog = () => {
    if (reading) return;
    reading = true;
    void o
      .backlog()
      .then((b) => {
        if (b) latest = b;
      })
      .finally(() => {
        reading = false;
      });
  };
  const sample = (phase: Phase) => {
    const now = Date.now();
    const dt = (now - lastSample.at) / 1000;
    const cpu = cpuSeconds(o.daemonPid);
    const mem = memoryMb(o.daemonPid);
    const b = latest as Backlog | null;
    const s: ProgressSample = {
      t: Math.round((now - startedAt) / 100) / 10,
      phase,
      offeredPerS: (counts.offered - lastSample.offered) / dt,
      placedPerS: (counts.placed - lastSample.placed) / dt,
      appliedPerS: b && lastSample.done !== null ? (b.inboxDone - lastSample.done) / dt : null,
      inboxPending: b?.inboxPending ?? null,
      pushPending: b?.pushPending ?? null,
      deliveryQueue: queue.length - head,
      inFlight,
      daemonCpuPct: cpu !== null && lastSample.cpu !== null ? ((cpu - lastSample.cpu) / dt) * 100 : null,
      daemonRssMb: mem?.rss ?? null,
    };
    series.push(s);
    lastSample = { at: now, placed: counts.placed, offered: counts.offered, done: b?.inboxDone ?? null, cpu };
    const f = (v: number | null, w = 6) => (v === null ? '?' : Math.round(v).toString()).padStart(w);
    process.stderr.write(
      `${o.label} ${f(s.t, 5)}s ${phase.padEnd(9)} offered ${f(rateAt(p, s.t))}/s placed ${f(s.placedPerS)}/s ` +
        `applied ${f(s.appliedPerS)}/s inbox backlog ${f(s.inboxPending, 7)} push backlog ${f(s.pushPending, 5)} ` +
        `webhooks queued ${f(s.deliveryQueue, 6)} in flight ${f(s.inFlight, 4)} daemon cpu ${f(s.daemonCpuPct, 4)}% rss ${f(s.daemonRssMb, 4)} MB\n`,
    );
    for (const shop of shops) shop.trim();
    readBacklog();
  };
  readBacklog();
  const progress = setInterval(() => sample(phaseAt(p, (Date.now() - startedAt) / 1000)), 1000);

  // -- the profile ----------------------------------------------------------------------------
  let windowCpu: { daemon: number | null; wait: number | null; driver: NodeJS.CpuUsage } | undefined;
  let daemonWindowCpu: number | null = null;
  let daemonWindowWait: number | null = null;
  let driverCpuSeconds = 0;
  let attempts = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = Date.now();
      const t = (now - startedAt) / 1000;
      if (!windowCpu && now >= windowStart) {
        windowCpu = {
          daemon: cpuSeconds(o.daemonPid),
          wait: runQueueSeconds(o.daemonPid),
          driver: process.cpuUsage(),
        };
        loopDelay.enable();
        void o.onWindow?.('start');
      }
      if (t >= profileSeconds(p)) {
        if (windowCpu) {
          const end = cpuSeconds(o.daemonPid);
          daemonWindowCpu = end !== null && windowCpu.daemon !== null ? end - windowCpu.daemon : null;
          const wait = runQueueSeconds(o.daemonPid);
          daemonWindowWait = wait !== null && windowCpu.wait !== null ? wait - windowCpu.wait : null;
          const d = process.cpuUsage(windowCpu.driver);
          driverCpuSeconds = (d.user + d.system) / 1e6;
        }
        loopDelay.disable();
        void o.onWindow?.('end');
        resolve();
        return;
      }
      const target = Math.floor(offeredBy(p, t));
      counts.offered = target;
      // Catch up at most 2000 orders per tick, so the dispatcher and tracers still get turns.
      for (let n = 0; attempts < target && n < 2000; n++) {
        attempts++;
        placeOne(now);
      }
      setTimeout(tick, 2);
    };
    tick();
  });
  driving = false;
  const driveEndAt = Date.now();
  await Promise.all(tracerRuns);

  // -- drain ------------------------------------------------------------------------------------
  const drainDeadline = driveEndAt + o.maxDrainMs;
  let drained = false;
  while (Date.now() < drainDeadline) {
    await sleep(500);
    const b = latest as Backlog | null;
    if (
      Date.now() >= driveEndAt + o.minDrainMs &&
      pendingCancels === 0 &&
      inFlight === 0 &&
      head >= queue.length &&
      b !== null &&
      b.inboxPending === 0 &&
      b.pushPending === 0
    ) {
      // The reading may predate the last deliveries: read once more.
      latest = null;
      const fresh = await o.backlog();
      if (fresh && fresh.inboxPending === 0 && fresh.pushPending === 0) {
        drained = true;
        break;
      }
    }
  }
  await Promise.race([deliveriesIdle(), sleep(5000)]);
  closed = true;
  counts.undelivered = queue.length - head;
  idleResolvers = [];
  clearInterval(progress);
  sample('drain');
  const mem = memoryMb(o.daemonPid);
  const h = loopDelay;
  return {
    startedAt,
    window: { start: windowStart, end: windowEnd },
    driveEndAt,
    drainedAt: Date.now(),
    drained,
    orders,
    counts,
    ack,
    tracers,
    driverLoopDelay: { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 },
    driverCpuSeconds,
    apiCalls: Object.fromEntries(shops.map((shop) => [shop.platform, shop.apiCalls()])),
    scarceSales,
    daemon: {
      cpuSecondsTotal: cpuSeconds(o.daemonPid),
      cpuSecondsWindow: daemonWindowCpu,
      runQueueSecondsWindow: daemonWindowWait,
      peakRssMb: mem?.peakRss ?? null,
    },
    series,
  };
}
