/**
 * HTTP scaffolding shared by the platform sandboxes: server start / stop, request-body reading, a
 * token-bucket rate limit, the raw POST of a webhook delivery, a seeded PRNG, and fault
 * injection into the API requests a sandbox serves.
 *
 * Only platform-neutral plumbing lives here. Everything that encodes a platform's rules — its
 * signatures (API and webhook), payload and JSON building, time formats, error shapes — stays in
 * that platform's own sandbox, which shares no code with its connector, so a mistake on either
 * side still shows up as a failing test. Node built-ins only (plus the contract's types).
 */
import http from 'node:http';
import type { FaultKind, FaultSpec } from '../contract.js';

/** Small seeded PRNG (mulberry32): the same seed gives the same shop. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads a request body; past `maxBytes` the request is destroyed and the promise rejects. */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.byteLength;
      if (size > maxBytes) {
        req.destroy();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Options of {@link createSandboxServer}. */
export interface SandboxServerOptions {
  /** Injects faults before `handle` runs: a request it answers never reaches `handle`. */
  faults?: FaultInjector;
  /**
   * Answers a failure of `handle` (a throw or a rejection) when nothing has been sent yet.
   * Default: a plain-text 500.
   */
  onError?: (err: unknown, req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/**
 * An HTTP server around `handle`, every request passing through `options.faults` first; a
 * failure of `handle` is answered by `options.onError` (default a plain-text 500) when nothing
 * has been sent yet.
 */
export function createSandboxServer(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>,
  options: SandboxServerOptions = {},
): http.Server {
  const fail = (err: unknown, req: http.IncomingMessage, res: http.ServerResponse) => {
    if (res.headersSent) return;
    if (options.onError) options.onError(err, req, res);
    else res.writeHead(500).end(String(err));
  };
  return http.createServer((req, res) => {
    if (options.faults?.intercept(req, res)) return;
    try {
      const done = handle(req, res);
      if (done) done.catch((err: unknown) => fail(err, req, res));
    } catch (err) {
      fail(err, req, res);
    }
  });
}

/** Listens on `host:port` (0: any free port) and returns the base URL `http://host:port`. */
export async function listenOn(server: http.Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return `http://${host}:${addr.port}`;
}

/** Destroys every delivery in flight, then closes `server` (if any) and all its connections. */
export async function closeSandbox(
  server: http.Server | undefined,
  inflight: Set<http.ClientRequest>,
): Promise<void> {
  for (const r of inflight) r.destroy();
  inflight.clear();
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A token bucket: `capacity` tokens, refilled continuously at `refillPerSecond`. The limits are
 * passed on every call, so a sandbox reads them from its (possibly changed) options.
 */
export class TokenBucket {
  tokens: number;
  private at = 0;

  constructor(capacity: number) {
    this.tokens = capacity;
  }

  /** Restarts the refill clock at `now` (epoch ms), e.g. when the server starts. */
  resetClock(now: number): void {
    this.at = now;
  }

  /** Refills up to `now`, then takes one token; false (nothing taken) when less than one is left. */
  take(now: number, limits: { capacity: number; refillPerSecond: number }): boolean {
    this.tokens = Math.min(limits.capacity, this.tokens + ((now - this.at) / 1000) * limits.refillPerSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * POSTs an already signed delivery to `target` once, on a fresh connection with a 5 s timeout.
 * Resolves the response status, or 0 when the request fails; the request sits in `inflight` until
 * it settles (a {@link closeSandbox} in between leaves the promise pending).
 */
export function postDelivery(
  target: string,
  headers: Record<string, string>,
  body: Buffer,
  inflight: Set<http.ClientRequest>,
): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(target, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-length': String(body.byteLength), connection: 'close' },
      timeout: 5000,
    });
    inflight.add(req);
    const done = (status: number) => {
      if (!inflight.delete(req)) return;
      resolve(status);
    };
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(0));
    req.on('close', () => done(0));
    req.end(body);
  });
}

/**
 * POSTs an already signed delivery to `target` once (default agent, no timeout). Resolves the
 * response status; rejects with the network error when the request fails.
 */
export function postDeliveryOrThrow(
  target: string,
  headers: Record<string, string>,
  body: Buffer,
  inflight: Set<http.ClientRequest>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      target,
      { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          inflight.delete(req);
          resolve(res.statusCode ?? 0);
        });
      },
    );
    inflight.add(req);
    req.on('error', (err) => {
      inflight.delete(req);
      reject(err);
    });
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------

/** An injected reply's platform-specific part. */
export interface FaultBody {
  body: string;
  /** Default `application/json; charset=utf-8`. */
  contentType?: string;
  headers?: Record<string, string>;
}

/** What a sandbox tells its {@link FaultInjector} about its platform. */
export interface FaultShapes {
  /** True for a request to the platform API's paths (what `only: 'api'` limits faults to). */
  isApi(req: http.IncomingMessage): boolean;
  /** The platform's throttle body for an injected 429 (`Retry-After` is always added). Default empty. */
  throttled?(retryAfterSeconds: number): FaultBody;
  /** The platform's server-error body for an injected 500. Default plain text. */
  serverError?(): FaultBody;
}

const FAULT_KINDS: readonly FaultKind[] = ['429', '500', 'timeout', 'malformed', 'lost'];

/** Default hold of an injected timeout: 35 s, past the core's 30 s client timeout. */
export const DEFAULT_FAULT_TIMEOUT_MS = 35_000;

/**
 * Injects faults into a sandbox's API requests (see the contract's `FaultSpec`): one draw per
 * request from its own PRNG (seeded, and untouched while no spec is set, so the sandbox's order
 * generator and a run's faults both repeat). A 429 carries `Retry-After`; a 500 the platform's
 * error body; a timeout holds the request unanswered, then destroys its socket; a malformed
 * reply is a 200 whose JSON is cut short. Requests held for a timeout are released (sockets
 * destroyed, timers cleared) by {@link release}, which every sandbox calls when it stops.
 */
export class FaultInjector {
  private spec: Required<Omit<FaultSpec, 'only'>> & { only: 'api' | 'all' } = inactive();
  private active = false;
  private readonly rng: () => number;
  private readonly counts: Record<FaultKind, number> = {
    '429': 0,
    '500': 0,
    timeout: 0,
    malformed: 0,
    lost: 0,
  };
  private readonly held = new Map<http.ServerResponse, NodeJS.Timeout>();

  constructor(
    seed: number,
    private readonly shapes: FaultShapes,
  ) {
    this.rng = mulberry32((seed ^ 0x5f3759df) >>> 0);
  }

  /** Replaces the spec; null (or all rates 0) stops injecting. Throws a RangeError for a bad value. */
  set(spec: FaultSpec | null): void {
    if (spec === null) {
      this.spec = inactive();
      this.active = false;
      return;
    }
    const rate = (name: keyof FaultSpec, v: number | undefined) => {
      if (v === undefined) return 0;
      if (!Number.isFinite(v) || v < 0 || v > 1)
        throw new RangeError(`${name} must be from 0 to 1, got ${v}`);
      return v;
    };
    const duration = (name: keyof FaultSpec, v: number | undefined, fallback: number) => {
      if (v === undefined) return fallback;
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be >= 0, got ${v}`);
      return v;
    };
    if (spec.only !== undefined && spec.only !== 'api' && spec.only !== 'all') {
      throw new RangeError(`only must be 'api' or 'all', got ${String(spec.only)}`);
    }
    this.spec = {
      rate429: rate('rate429', spec.rate429),
      rate500: rate('rate500', spec.rate500),
      rateTimeout: rate('rateTimeout', spec.rateTimeout),
      rateMalformed: rate('rateMalformed', spec.rateMalformed),
      rateLost: rate('rateLost', spec.rateLost),
      retryAfterSeconds: duration('retryAfterSeconds', spec.retryAfterSeconds, 1),
      timeoutMs: duration('timeoutMs', spec.timeoutMs, DEFAULT_FAULT_TIMEOUT_MS),
      only: spec.only ?? 'api',
    };
    const s = this.spec;
    this.active = s.rate429 + s.rate500 + s.rateTimeout + s.rateMalformed + s.rateLost > 0;
  }

  /** Faults injected so far, per kind. */
  faultCounts(): Record<FaultKind, number> {
    return { ...this.counts };
  }

  /**
   * Answers `req` with a fault when one is drawn; true when it did (the handler must not run). A
   * lost reply returns false: the handler serves the request and its answer goes nowhere.
   */
  intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (!this.active) return false;
    if (this.spec.only === 'api' && !this.shapes.isApi(req)) return false;
    const kind = this.draw();
    if (kind === undefined) return false;
    this.counts[kind]++;
    switch (kind) {
      case '429': {
        const seconds = this.spec.retryAfterSeconds;
        const reply = this.shapes.throttled?.(seconds) ?? { body: '' };
        this.answer(res, 429, reply, { 'retry-after': String(seconds) });
        break;
      }
      case '500':
        this.answer(
          res,
          500,
          this.shapes.serverError?.() ?? { body: 'Internal Server Error', contentType: 'text/plain' },
        );
        break;
      case 'malformed':
        this.answer(res, 200, { body: TRUNCATED_JSON });
        break;
      case 'timeout':
        this.hold(req, res);
        break;
      case 'lost':
        // Served as usual; whatever it answers is dropped with the connection.
        res.end = (() => {
          res.socket?.destroy();
          return res;
        }) as typeof res.end;
        return false;
    }
    return true;
  }

  /** Destroys every held request's socket and clears its timer. */
  release(): void {
    for (const [res, timer] of this.held) {
      clearTimeout(timer);
      res.socket?.destroy();
    }
    this.held.clear();
  }

  private draw(): FaultKind | undefined {
    const r = this.rng();
    const s = this.spec;
    const rates = [s.rate429, s.rate500, s.rateTimeout, s.rateMalformed, s.rateLost];
    let edge = 0;
    for (const [i, kind] of FAULT_KINDS.entries()) {
      edge += rates[i]!;
      if (r < edge) return kind;
    }
    return undefined;
  }

  private answer(
    res: http.ServerResponse,
    status: number,
    reply: FaultBody,
    extra: Record<string, string> = {},
  ) {
    const body = Buffer.from(reply.body, 'utf8');
    res.writeHead(status, {
      'content-type': reply.contentType ?? 'application/json; charset=utf-8',
      'content-length': String(body.byteLength),
      ...reply.headers,
      ...extra,
    });
    res.end(body);
  }

  private hold(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    const timer = setTimeout(() => {
      this.held.delete(res);
      res.socket?.destroy();
    }, this.spec.timeoutMs);
    this.held.set(res, timer);
    // The client gave up first (its own timeout): nothing left to hold.
    res.on('close', () => {
      clearTimeout(timer);
      this.held.delete(res);
    });
  }
}

/** A JSON object cut off mid-value, as a dropped connection or a broken proxy leaves it. */
const TRUNCATED_JSON = '{"response":{"total":12,"items":[{"id":1001,"title":"sandbox item","qua';

function inactive(): Required<Omit<FaultSpec, 'only'>> & { only: 'api' | 'all' } {
  return {
    rate429: 0,
    rate500: 0,
    rateTimeout: 0,
    rateMalformed: 0,
    rateLost: 0,
    retryAfterSeconds: 1,
    timeoutMs: DEFAULT_FAULT_TIMEOUT_MS,
    only: 'api',
  };
}

// ---------------------------------------------------------------------------------------------
// Platform stock
// ---------------------------------------------------------------------------------------------

/** A sandbox's quantities by listing key (a `Map` is one); undefined = not a stock-bearing key. */
export interface StockMap {
  get(key: string): number | undefined;
  set(key: string, quantity: number): unknown;
}

/** The units an order took, per listing key, in the order taken: what a cancellation gives back. */
export type TakenUnits = [key: string, quantity: number][];

/**
 * Takes `quantity` units of `key` for an order, as a platform does when it sells: false, taking
 * nothing, when the listing holds fewer (the platform does not sell what it does not show). A
 * key without a quantity (not stock-managed) sells freely and takes nothing.
 */
export function takeUnits(stock: StockMap, taken: TakenUnits, key: string, quantity: number): boolean {
  const have = stock.get(key);
  if (have === undefined) return true;
  if (have < quantity) return false;
  stock.set(key, have - quantity);
  taken.push([key, quantity]);
  return true;
}

/** Gives every unit in `taken` back to `stock` (a cancellation) and empties `taken`. */
export function giveBack(stock: StockMap, taken: TakenUnits): void {
  for (const [key, quantity] of taken.splice(0)) {
    const have = stock.get(key);
    if (have !== undefined) stock.set(key, have + quantity);
  }
}

/** Throws unless `quantity` is a whole number of units, at least 1. */
export function checkSellQuantity(quantity: number): void {
  if (!Number.isInteger(quantity) || quantity < 1) {
    throw new RangeError(`quantity must be a whole number of units, at least 1; got ${quantity}`);
  }
}
