/**
 * The HTTP app, built from its dependencies and never listening itself (src/daemon.ts does).
 *
 * Core routes: `GET /healthz` (liveness: 200 while the process serves HTTP) and `GET /readyz`
 * (readiness: 200 when the database answers and every migration is applied, else 503 with the
 * reason). Every response carries `x-request-id` (an incoming one is kept when it is 1-255
 * characters of `[A-Za-z0-9_=-]`). Errors are JSON `{ error, message, requestId }`; a 5xx is
 * logged with its stack and answered without it. A {@link DomainError} thrown by a handler is
 * answered by {@link domainErrorResponse}, the one place that maps error classes to statuses.
 *
 * Feature routers (admin API, webhooks, status page) are `Hono<AppEnv>` instances mounted with
 * `routes: [{ path: '/admin', router }]` or `app.route()` on the returned app; they get the
 * request id and a request-scoped logger from `c.get('requestId')` and `c.get('log')`, and share
 * the 404/error handling and the body limit (a router may add a tighter `bodyLimit` itself).
 */
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Db } from '../db/client.js';
import { type MigrationFile, pendingMigrations, readMigrations } from '../db/migrate.js';
import {
  BundleCycleError,
  BusyError,
  ConflictError,
  DomainError,
  IdempotencyConflictError,
  InsufficientStockError,
  NotFoundError,
  StockConflictError,
  ValidationError,
} from '../domain/errors.js';
import type { Logger } from '../log.js';

/** Wall-clock time, injected so tests can fix it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Hono environment shared by the app and every mounted router. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** Logger bound to `{ requestId }`. */
    log: Logger;
  };
}

export interface MountedRouter {
  /** Mount point, e.g. `/admin`, `/webhooks`. */
  path: string;
  router: Hono<AppEnv>;
}

export interface AppDeps {
  db: Db;
  log: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Largest request body in bytes (config `server.bodyLimitBytes`). Default 1 MiB. */
  bodyLimitBytes?: number;
  /** How long /readyz waits for the database before answering 503. Default 2000 ms. */
  readyTimeoutMs?: number;
  /** True once shutdown began: /readyz answers 503 so load balancers stop routing here. */
  isDraining?: () => boolean;
  /** Migrations /readyz expects to be applied. Default: prisma/migrations, read once. */
  migrations?: MigrationFile[];
  /** Routers to mount, in order. */
  routes?: readonly MountedRouter[];
}

/** Paths probed every few seconds by orchestrators: logged at debug, not info (when they answer). */
const PROBE_PATHS = new Set(['/healthz', '/readyz']);

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { db, log } = deps;
  const clock = deps.clock ?? systemClock;
  const readyTimeoutMs = deps.readyTimeoutMs ?? 2000;
  const migrations = deps.migrations ?? readMigrations();
  const maxBodyBytes = deps.bodyLimitBytes ?? 1024 * 1024;
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(async (c, next) => {
    const reqLog = log.child({ requestId: c.get('requestId') });
    c.set('log', reqLog);
    const started = performance.now();
    await next();
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    };
    // Probes, and webhooks the platforms deliver by the thousand at a peak, at debug when they
    // went well (a refused webhook is also logged by the router, with why, at warn).
    const routine =
      (PROBE_PATHS.has(c.req.path) && c.res.status < 500) ||
      (c.req.path.startsWith('/webhooks/') && c.res.status < 400);
    if (routine) reqLog.debug(fields, 'request');
    else reqLog.info(fields, 'request');
  });
  // `%00` is the only way a NUL reaches a path or query parameter, and PostgreSQL text cannot
  // hold one: refused here once rather than failing as a 500 in whichever query sees it first.
  app.use(async (c, next) => {
    if (c.req.url.includes('%00')) {
      throw new ValidationError('the URL contains %00 (NUL), which no path or query parameter may hold', [
        '(url): must not contain %00',
      ]);
    }
    await next();
  });
  const tooLarge = (c: Context<AppEnv>) =>
    c.json(
      errorBody(c.get('requestId'), 'payload_too_large', `request body exceeds ${maxBodyBytes} bytes`),
      413,
    );
  const limitStream = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge });
  app.use((c, next) => {
    // A declared length is checked from the header, as bodyLimit would, but without touching
    // `c.req.raw.body`: that builds a web ReadableStream over the Node request, and the body is
    // then no longer read directly from it (@hono/node-server's fast path), about 5% of the
    // daemon's CPU at a webhook peak. Chunked bodies are counted by bodyLimit as they stream.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      return Number.parseInt(length, 10) > maxBodyBytes ? Promise.resolve(tooLarge(c)) : next();
    }
    return limitStream(c, next);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const checkedAt = clock.now().toISOString();
    const notReady = (reason: string, extra: Record<string, unknown> = {}) =>
      c.json({ status: 'unavailable', reason, ...extra, checkedAt }, 503);
    if (deps.isDraining?.()) return notReady('shutting down');
    try {
      await withTimeout(
        db.withSession((s) => s.query('SELECT 1')),
        readyTimeoutMs,
        'no answer',
      );
    } catch (err) {
      c.get('log').warn({ err }, 'readiness: database check failed');
      return notReady(`database: ${(err as Error).message}`);
    }
    const pending = await withTimeout(pendingMigrations(db, migrations), readyTimeoutMs, 'no answer').catch(
      (err: Error) => err,
    );
    if (pending instanceof Error) return notReady(`database: ${pending.message}`);
    if (pending.length > 0) return notReady('pending migrations', { pendingMigrations: pending });
    return c.json({ status: 'ready', checkedAt });
  });

  for (const r of deps.routes ?? []) app.route(r.path, r.router);

  app.notFound((c) =>
    c.json(errorBody(c.get('requestId'), 'not_found', `no route for ${c.req.method} ${c.req.path}`), 404),
  );

  app.onError(async (err, c) => {
    const id = c.get('requestId');
    if (err instanceof DomainError) {
      const { status, body, headers } = domainErrorResponse(err, id);
      return c.json(body, status, headers);
    }
    if (err instanceof HTTPException && err.status < 500) {
      // An exception carrying its own response (hono's bearer auth) keeps its plain-text
      // message and its WWW-Authenticate challenge, in our JSON shape.
      const own = err.res;
      const text = own?.headers.get('content-type')?.startsWith('text/plain') ? await own.text() : '';
      const challenge = own?.headers.get('www-authenticate');
      return c.json(
        errorBody(id, codeFor(err.status), err.message || text || 'bad request'),
        err.status,
        challenge ? { 'www-authenticate': challenge } : undefined,
      );
    }
    (c.get('log') ?? log).error(
      { err, requestId: id, method: c.req.method, path: c.req.path },
      'request failed',
    );
    const status: ContentfulStatusCode = err instanceof HTTPException ? err.status : 500;
    return c.json(errorBody(id, 'internal_error', 'internal server error'), status);
  });

  return app;
}

/** The JSON body of every error response. */
export function errorBody(requestId: string | undefined, error: string, message: string) {
  return { error, message, requestId };
}

/**
 * Status and JSON body for a domain error. The body is `{ error: <code>, message, requestId }`
 * plus the details an operator acts on: `issues` (400 invalid_input), `entity` and `refs`
 * (404 not_found), `shortfalls` with SKU codes (409 insufficient_stock), `key`
 * (409 idempotency_conflict), `path` of SKU codes (422 bundle_cycle). 409 stock_conflict
 * carries its message only. Any other domain error is a 422 with its code.
 */
export function domainErrorResponse(
  err: DomainError,
  requestId: string | undefined,
): { status: ContentfulStatusCode; body: Record<string, unknown>; headers?: Record<string, string> } {
  const body = errorBody(requestId, err.code, err.message);
  if (err instanceof ValidationError) return { status: 400, body: { ...body, issues: err.issues } };
  if (err instanceof NotFoundError) {
    return { status: 404, body: { ...body, entity: err.entity, refs: err.refs } };
  }
  if (err instanceof InsufficientStockError) {
    const shortfalls = err.shortfalls.map((s) => ({
      sku: s.skuCode,
      skuId: s.skuId,
      requested: s.requested,
      available: s.available,
    }));
    return { status: 409, body: { ...body, shortfalls } };
  }
  if (err instanceof IdempotencyConflictError) return { status: 409, body: { ...body, key: err.key } };
  if (err instanceof StockConflictError || err instanceof ConflictError) return { status: 409, body };
  if (err instanceof BundleCycleError) return { status: 422, body: { ...body, path: err.path } };
  if (err instanceof BusyError) return { status: 503, body, headers: { 'retry-after': '1' } };
  return { status: 422, body };
}

function codeFor(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 409:
      return 'conflict';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 422:
      return 'unprocessable_entity';
    case 429:
      return 'too_many_requests';
    default:
      return 'client_error';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
