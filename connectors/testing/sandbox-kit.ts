/**
 * HTTP scaffolding shared by the platform sandboxes: server start / stop, request-body reading, a
 * token-bucket rate limit, the raw POST of a webhook delivery, and a seeded PRNG.
 *
 * Only platform-neutral plumbing lives here. Everything that encodes a platform's rules — its
 * signatures (API and webhook), payload and JSON building, time formats, error shapes — stays in
 * that platform's own sandbox, which shares no code with its connector, so a mistake on either
 * side still shows up as a failing test. Node built-ins only.
 */
import http from 'node:http';

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

/**
 * An HTTP server around `handle`; a rejection of `handle` becomes a plain-text 500 when nothing
 * has been sent yet.
 */
export function createSandboxServer(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): http.Server {
  return http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
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
