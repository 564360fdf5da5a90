/**
 * The admin JSON API for the order intake, mounted at `/api` next to the inventory endpoints
 * (see README "Orders API"). It adds no auth of its own: add it to the router that
 * {@link adminApi} returns (`api.route('/', ordersRouter(orders))`) so the same bearer token
 * guards it.
 *
 * Reads page with opaque cursors (`nextCursor`). Bodies are strict JSON objects checked in full
 * before anything is looked up or stored; errors are domain errors answered by the app's error
 * handler.
 *
 * Nothing here processes the inbox in the background: `POST /api/inbox/process` runs one batch
 * of the events that carry their order, on request (the sync engine runs the inbox worker and
 * resolves re-fetch hints per shop).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { ValidationError } from '../domain/errors.js';
import { idempotencyKey, parseInput } from '../inventory/validation.js';
import type { Orders } from '../orders/index.js';
import type { AppEnv } from './app.js';
import { readJson } from './json-body.js';

/** A positive integer in a query string (zod's coerce would take "" as 0 and "1e2" as 100). */
const intParam = z
  .string()
  .regex(/^[1-9][0-9]{0,5}$/, 'expected a positive integer')
  .transform(Number);

const ordersQuery = z.strictObject({
  shopId: z.string().optional(),
  status: z.string().optional(),
  platformOrderId: z.string().optional(),
  cursor: z.string().optional(),
  limit: intParam.optional(),
});

const exceptionsQuery = z.strictObject({
  status: z.string().optional(),
  kind: z.string().optional(),
  shopId: z.string().optional(),
  cursor: z.string().optional(),
  limit: intParam.optional(),
});

const processQuery = z.strictObject({
  limit: intParam.pipe(z.number().max(500)).optional(),
});

const resolveBody = z.strictObject({ resolution: z.string().trim().min(1).max(2000) });

/** `order` is checked against the canonical order schema by Orders.submitOrder. */
const intakeBody = z.strictObject({ order: z.unknown(), key: idempotencyKey.optional() });

/** The order endpoints (no auth of their own; see the module comment). */
export function ordersRouter(orders: Orders): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/orders', async (c) => {
    const q = parseInput(ordersQuery, c.req.query(), 'order query');
    return c.json(await orders.listOrders(q as Parameters<Orders['listOrders']>[0]));
  });

  r.get('/orders/:shopId/:platformOrderId', async (c) => {
    return c.json(await orders.getOrder(c.req.param('shopId'), c.req.param('platformOrderId')));
  });

  r.post('/orders', async (c) => {
    const b = parseInput(intakeBody, await readJson(c), 'order intake');
    if (b.order === undefined)
      throw new ValidationError('order intake: order is required', ['order: required']);
    const stored = await orders.submitOrder(b.order, b.key);
    return c.json({ inboxId: stored.id, duplicate: stored.duplicate }, 202);
  });

  r.get('/exceptions', async (c) => {
    const q = parseInput(exceptionsQuery, c.req.query(), 'exception query');
    return c.json(await orders.listExceptions(q as Parameters<Orders['listExceptions']>[0]));
  });

  r.post('/exceptions/:id/resolve', async (c) => {
    const b = parseInput(resolveBody, await readJson(c), 'resolution');
    return c.json(await orders.resolveException(c.req.param('id'), b.resolution));
  });

  r.put('/listings', async (c) => {
    return c.json(await orders.putListing((await readJson(c)) as Parameters<Orders['putListing']>[0]));
  });

  r.get('/inbox', async (c) => c.json(await orders.inboxCounts()));

  r.post('/inbox/process', async (c) => {
    const q = parseInput(processQuery, c.req.query(), 'process query');
    return c.json(await orders.processBatch(q.limit));
  });

  r.post('/inbox/:id/retry', async (c) => c.json(await orders.retryParked(c.req.param('id'))));

  return r;
}
