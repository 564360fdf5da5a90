/**
 * The platforms' webhook delivery path, with a hand on it: the sandboxes POST their signed
 * deliveries here, and the relay sends them on to the daemon's fixed port, byte for byte.
 *
 * - Pass-through (default): one attempt; the sandbox gets the daemon's answer (502 when the daemon
 *   is down), so each sandbox's own retry behaviour holds: Shopify retries twice within 300 ms,
 *   Taobao's TMC relay and Douyin push once (see their sandbox.ts). A delivery refused while the
 *   daemon is down is then lost as a webhook and must come in through the scheduled pull.
 * - Capture: while {@link WebhookRelay.capture} runs for a shop, its deliveries are acknowledged to
 *   the sandbox at once and handed to the driver, which sends the exact same delivery several times
 *   (duplicates) or a later revision before an earlier one (reordering), through
 *   {@link WebhookRelay.forward}: that retries until the daemon takes it or a deadline passes, the
 *   way a platform with a durable queue (Shopify's 48 h, TMC) redelivers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedDelivery {
  seq: number;
  shopId: string;
  /** `/webhooks/<platform>/<shopId>`. */
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ForwardResult {
  /** The daemon's last answer; 0 when it could not be reached. */
  status: number;
  attempts: number;
}

export interface RelayStats {
  /** Deliveries the sandboxes POSTed. */
  received: number;
  /** Of those, sent on at once (pass-through) ... */
  passedThrough: number;
  /** ... and not taken by the daemon (down, or an error answer): the sandbox saw a failure. */
  passFailed: number;
  /** Deliveries held for the driver (duplicates, reordering, durable redelivery). */
  captured: number;
  /** Sends of captured deliveries (each copy counts) and their extra attempts. */
  forwarded: number;
  forwardRetries: number;
  /** Captured sends the daemon never took before the deadline. */
  forwardGaveUp: number;
  /** Every answer the daemon gave, by status (`unreachable`: no connection). */
  statuses: Record<string, number>;
}

const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

export class WebhookRelay {
  readonly stats: RelayStats = {
    received: 0,
    passedThrough: 0,
    passFailed: 0,
    captured: 0,
    forwarded: 0,
    forwardRetries: 0,
    forwardGaveUp: 0,
    statuses: {},
  };
  private server: http.Server | undefined;
  private readonly capturing = new Map<string, CapturedDelivery[]>();
  private seq = 0;
  private closed = false;
  private readonly inflight = new Set<http.ClientRequest>();

  constructor(
    /** The daemon's base URL, e.g. `http://127.0.0.1:40123`. */
    private readonly target: string,
  ) {}

  /** Listens on a free port of 127.0.0.1; returns the base URL. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.onRequest(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const r of this.inflight) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * Runs `fn` (which makes the sandbox deliver) while holding every delivery of `shopId`; returns
   * them. `fn`'s failure is returned, not thrown. The driver runs one operation per shop at a time,
   * so what arrives for the shop meanwhile is `fn`'s.
   */
  async capture<T>(
    shopId: string,
    fn: () => Promise<T>,
  ): Promise<{ result?: T; error?: unknown; deliveries: CapturedDelivery[] }> {
    const held: CapturedDelivery[] = [];
    this.capturing.set(shopId, held);
    try {
      return { result: await fn(), deliveries: held };
    } catch (error) {
      return { error, deliveries: held };
    } finally {
      this.capturing.delete(shopId);
    }
  }

  /**
   * Sends a captured delivery to the daemon until it answers 2xx or a final 4xx, or `deadlineMs`
   * passes (backoff 200 ms x 1.5^n, at most 2 s apart).
   */
  async forward(d: CapturedDelivery, deadlineMs = 60_000): Promise<ForwardResult> {
    const until = Date.now() + deadlineMs;
    let attempts = 0;
    let status = 0;
    this.stats.forwarded++;
    for (let wait = 200; !this.closed; wait = Math.min(2000, wait * 1.5)) {
      if (attempts > 0) this.stats.forwardRetries++;
      attempts++;
      status = await this.send(d.path, d.headers, d.body);
      if ((status >= 200 && status < 300) || (status >= 400 && status < 500 && status !== 429)) break;
      if (Date.now() + wait > until) {
        this.stats.forwardGaveUp++;
        break;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
    return { status, attempts };
  }

  /**
   * One POST to the daemon; the status, or 0 when it could not be reached or timed out. `count`:
   * add the answer to {@link stats} (false for the driver's own bad deliveries).
   */
  send(path: string, headers: Record<string, string>, body: Buffer, count = true): Promise<number> {
    return new Promise((resolve) => {
      const req = http.request(`${this.target}${path}`, {
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-length': String(body.byteLength), connection: 'close' },
        timeout: 10_000,
      });
      this.inflight.add(req);
      let settled = false;
      const done = (status: number) => {
        if (settled) return;
        settled = true;
        this.inflight.delete(req);
        const k = status === 0 ? 'unreachable' : String(status);
        if (count) this.stats.statuses[k] = (this.stats.statuses[k] ?? 0) + 1;
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

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const shopId = /^\/webhooks\/[^/]+\/([^/?]+)/.exec(path)?.[1] ?? '';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_HEADERS.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    this.stats.received++;
    const held = this.capturing.get(shopId);
    if (held) {
      this.stats.captured++;
      held.push({ seq: ++this.seq, shopId, path, headers, body });
      res.writeHead(200).end();
      return;
    }
    this.stats.passedThrough++;
    const status = await this.send(path, headers, body);
    if (status < 200 || status >= 300) this.stats.passFailed++;
    res.writeHead(status === 0 ? 502 : status).end();
  }
}
