import { Hono } from 'hono';
import type { RawHeaders, WebhookResult } from '../../connectors/contract.js';
import { type InboxDelivery, orderRevisionKey } from '../orders/inbox.js';
import type { Orders } from '../orders/index.js';
import type { ShopConnector } from '../sync/shop-connectors.js';
import { type AppEnv, errorBody } from './app.js';

/**
 * `POST /webhooks/:platform/:shopId`: marketplace webhooks and push messages.
 *
 * The raw bytes go to the shop's connector, which verifies the signature in constant time and
 * parses them; a rejected delivery gets the connector's status (401 bad signature, 400, 413)
 * and nothing is stored. An accepted one is written to the inbox (all its events in one
 * transaction, deduplicated by the platform's delivery id) before the reply, which is what
 * the platform expects (`descriptor.webhook.ack`). Processing happens later, off the request.
 * Orders from a webhook carry the configured shop id, whatever the platform calls the shop.
 */
export function webhookRouter(deps: { orders: Orders; shops: ReadonlyMap<string, ShopConnector> }) {
  const r = new Hono<AppEnv>();
  r.post('/:platform/:shopId', async (c) => {
    const { platform, shopId } = c.req.param();
    const sc = deps.shops.get(shopId);
    if (!sc || sc.registered.descriptor.id !== platform) {
      return c.json(
        errorBody(c.get('requestId'), 'not_found', `no ${platform} shop ${shopId} is configured`),
        404,
      );
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    const headers: RawHeaders = {};
    c.req.raw.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const result = sc.connector.parseWebhook({ headers, body });
    if (!result.ok) {
      c.get('log').warn({ shop: shopId, status: result.status, error: result.error }, 'webhook rejected');
      return c.json(errorBody(c.get('requestId'), 'webhook_rejected', result.error), result.status);
    }
    const deliveries = inboxDeliveries(shopId, result);
    const stored = await deps.orders.receiveAll(deliveries);
    // At debug: the request line (info) already says which shop's webhook was answered how, and
    // at a 双11 peak a second line per webhook is a few percent of the daemon's CPU.
    c.get('log').debug(
      {
        shop: shopId,
        topic: result.topic,
        events: deliveries.length,
        duplicates: stored.filter((s) => s.duplicate).length,
      },
      'webhook stored',
    );
    const ack = sc.registered.descriptor.webhook.ack;
    return c.body(
      ack.body ?? '',
      ack.status as 200,
      ack.contentType ? { 'content-type': ack.contentType } : {},
    );
  });
  return r;
}

/**
 * The inbox rows of an accepted delivery. An event carrying the whole order is keyed by the
 * order's revision (orderRevisionKey), so the same revision arriving again, by another webhook
 * topic or by a pull, is stored once; a re-fetch hint by the platform's delivery id.
 */
export function inboxDeliveries(shopId: string, result: WebhookResult & { ok: true }): InboxDelivery[] {
  const many = result.events.length > 1;
  return result.events.map((e, i) => {
    if (e.kind === 'order') {
      const order = { ...e.order, shopId };
      return {
        shopId,
        source: 'webhook',
        dedupeKey: orderRevisionKey(order),
        topic: result.topic ?? null,
        payload: { order },
      };
    }
    return {
      shopId,
      source: 'webhook',
      dedupeKey: many ? `${result.dedupeKey}#${i}` : result.dedupeKey,
      topic: result.topic ?? null,
      payload: { refetch: e.platformOrderId, reason: e.reason ?? null },
      refetchOrderId: e.platformOrderId,
    };
  });
}
