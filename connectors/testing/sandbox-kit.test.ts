/**
 * The platform-neutral sandbox plumbing: fault injection (seeded draws, reply shapes, held
 * requests released on stop) and the stock helpers every sandbox sells through.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { installLeakGuard } from './leak-guard.js';
import {
  closeSandbox,
  createSandboxServer,
  FaultInjector,
  giveBack,
  listenOn,
  type TakenUnits,
  takeUnits,
} from './sandbox-kit.js';

installLeakGuard();

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await closeSandbox(s, new Set());
});

/** Requests the handler below served (a fault answered in its place does not count). */
let served = 0;

/** A sandbox-like server answering `{"ok":true}` on `/api/*` and 404 elsewhere. */
async function serve(faults: FaultInjector): Promise<string> {
  const server = createSandboxServer(
    (req, res) => {
      served++;
      const api = (req.url ?? '').startsWith('/api/');
      res.writeHead(api ? 200 : 404, { 'content-type': 'application/json' }).end(api ? '{"ok":true}' : '{}');
    },
    { faults },
  );
  servers.push(server);
  return listenOn(server, 0, '127.0.0.1');
}

/** One request on a fresh connection: status, headers and body, or the network error's code. */
function call(
  url: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

const shapes = {
  isApi: (req: http.IncomingMessage) => (req.url ?? '').startsWith('/api/'),
  throttled: (s: number) => ({ body: JSON.stringify({ error: 'slow down', seconds: s }) }),
};

describe('FaultInjector', () => {
  it('draws each request from a seeded PRNG: rates are probabilities and a run repeats', async () => {
    const statuses = async (seed: number) => {
      const faults = new FaultInjector(seed, shapes);
      const url = await serve(faults);
      faults.set({ rate429: 0.2, rate500: 0.2, rateMalformed: 0.2 });
      const out: number[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await call(`${url}/api/x`);
        out.push('status' in r ? r.status : -1);
      }
      return { out, counts: faults.faultCounts() };
    };
    const a = await statuses(7);
    const b = await statuses(7);
    expect(b).toEqual(a);
    for (const kind of ['429', '500', 'malformed'] as const) {
      expect(a.counts[kind]).toBeGreaterThan(5);
      expect(a.counts[kind]).toBeLessThan(40);
    }
    expect(a.counts.timeout).toBe(0);
    const clean = a.out.filter((s) => s === 200).length - a.counts.malformed;
    expect(clean).toBeGreaterThan(20);
  });

  it('shapes each kind: 429 with Retry-After and the platform body, 500, truncated JSON', async () => {
    const faults = new FaultInjector(1, shapes);
    const url = await serve(faults);
    faults.set({ rate429: 1, retryAfterSeconds: 4 });
    expect(await call(`${url}/api/x`)).toMatchObject({
      status: 429,
      headers: { 'retry-after': '4' },
      body: '{"error":"slow down","seconds":4}',
    });
    faults.set({ rate500: 1 });
    expect(await call(`${url}/api/x`)).toMatchObject({ status: 500, body: 'Internal Server Error' });
    faults.set({ rateMalformed: 1 });
    const bad = await call(`${url}/api/x`);
    expect(bad).toMatchObject({ status: 200 });
    expect(() => JSON.parse((bad as { body: string }).body)).toThrow(SyntaxError);
    // Outside the API unless `only: 'all'`.
    expect(await call(`${url}/elsewhere`)).toMatchObject({ status: 404 });
    faults.set({ rate500: 1, only: 'all' });
    expect(await call(`${url}/elsewhere`)).toMatchObject({ status: 500 });
    faults.set(null);
    expect(await call(`${url}/api/x`)).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(faults.faultCounts()).toEqual({ '429': 1, '500': 2, timeout: 0, malformed: 1, lost: 0 });
  });

  it('holds a timed-out request for timeoutMs, then drops the connection', async () => {
    const faults = new FaultInjector(1, shapes);
    const url = await serve(faults);
    faults.set({ rateTimeout: 1, timeoutMs: 50 });
    expect(await call(`${url}/api/x`)).toEqual({ error: 'ECONNRESET' });
  });

  it('serves a request whose reply it loses: the handler runs, the client sees the connection drop', async () => {
    const faults = new FaultInjector(1, shapes);
    const url = await serve(faults);
    const before = served;
    faults.set({ rateLost: 1 });
    expect(await call(`${url}/api/x`)).toEqual({ error: 'ECONNRESET' });
    expect(served - before).toBe(1);
    expect(faults.faultCounts()).toMatchObject({ lost: 1, timeout: 0 });
    // A fault answered in the handler's place is not served.
    faults.set({ rate500: 1 });
    expect(await call(`${url}/api/x`)).toMatchObject({ status: 500 });
    expect(served - before).toBe(1);
  });

  it('releases a held request (default 35 s) when the sandbox stops', async () => {
    const faults = new FaultInjector(1, shapes);
    const url = await serve(faults);
    faults.set({ rateTimeout: 1 });
    const pending = call(`${url}/api/x`);
    for (let i = 0; i < 100 && faults.faultCounts().timeout === 0; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(faults.faultCounts().timeout).toBe(1);
    faults.release();
    expect(await pending).toEqual({ error: 'ECONNRESET' });
  });

  it('refuses rates outside 0..1 and negative durations', () => {
    const faults = new FaultInjector(1, shapes);
    expect(() => faults.set({ rate429: 1.5 })).toThrow(RangeError);
    expect(() => faults.set({ rate500: -0.1 })).toThrow(RangeError);
    expect(() => faults.set({ rateTimeout: Number.NaN })).toThrow(RangeError);
    expect(() => faults.set({ timeoutMs: -1 })).toThrow(RangeError);
  });
});

describe('takeUnits / giveBack', () => {
  it('takes only what a listing holds, line after line, and gives it all back once', () => {
    const stock = new Map([
      ['a', 3],
      ['b', 1],
    ]);
    const taken: TakenUnits = [];
    expect(takeUnits(stock, taken, 'a', 2)).toBe(true);
    expect(takeUnits(stock, taken, 'a', 2)).toBe(false);
    expect(takeUnits(stock, taken, 'b', 1)).toBe(true);
    expect(takeUnits(stock, taken, 'unmanaged', 9)).toBe(true);
    expect([...stock]).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    expect(taken).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    giveBack(stock, taken);
    giveBack(stock, taken);
    expect([...stock]).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
  });
});
