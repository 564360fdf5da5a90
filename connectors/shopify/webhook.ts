/**
 * Shopify webhook verification and parsing.
 *
 * Verification: base64(HMAC-SHA256(app client secret, raw body bytes)) compared with
 * `X-Shopify-Hmac-Sha256` by `crypto.timingSafeEqual` on the decoded 32 bytes, before the body
 * is even decoded as text. Every configured secret is tried (rotation), each in constant time.
 *
 * Dedupe key: `X-Shopify-Event-Id` (one per event, stable across retries and the same for every
 * subscription), else `X-Shopify-Webhook-Id` (one per delivery attempt chain), else a SHA-256 of
 * the body, prefixed `shopify:event:`, `shopify:webhook:` or `shopify:sha256:`.
 *
 * Events: order topics carry the full order (`kind: 'order'`); when the payload does not map
 * (schema drift) the event degrades to a re-fetch hint instead of a 4xx, because Shopify would
 * retry a 4xx eight times and then delete the subscription. `refunds/create` and `orders/edited`
 * carry only the refund / edit, so they become re-fetch hints for their order.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { header, type RawWebhook, type WebhookEvent, type WebhookResult } from '../contract.js';
import { type MappingOptions, mapShopifyOrder } from './mapping.js';

export const SHOPIFY_WEBHOOK_HEADERS = {
  signature: 'X-Shopify-Hmac-Sha256',
  topic: 'X-Shopify-Topic',
  webhookId: 'X-Shopify-Webhook-Id',
  eventId: 'X-Shopify-Event-Id',
  shop: 'X-Shopify-Shop-Domain',
  triggeredAt: 'X-Shopify-Triggered-At',
  apiVersion: 'X-Shopify-API-Version',
} as const;

/** Topics whose payload is a full order. */
const ORDER_TOPICS = new Set([
  'orders/create',
  'orders/updated',
  'orders/paid',
  'orders/cancelled',
  'orders/fulfilled',
  'orders/partially_fulfilled',
]);

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** True when `signature` is the base64 HMAC-SHA256 of `body` under one of `secrets`. Constant time per secret. */
export function verifyShopifyHmac(body: Uint8Array, signature: string, secrets: readonly string[]): boolean {
  const sig = signature.trim();
  if (!BASE64_RE.test(sig)) return false;
  const given = Buffer.from(sig, 'base64');
  if (given.length !== 32) return false;
  let ok = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    // Keep comparing after a match so timing does not tell which secret matched.
    if (timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

export interface WebhookOptions extends MappingOptions {
  secrets: readonly string[];
  maxBytes: number;
}

/** Verifies and parses one delivery. Never throws. */
export function parseShopifyWebhook(raw: RawWebhook, options: WebhookOptions): WebhookResult {
  try {
    return parse(raw, options);
  } catch (err) {
    return {
      ok: false,
      status: 400,
      error: `unreadable webhook: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

function parse(raw: RawWebhook, options: WebhookOptions): WebhookResult {
  const h = SHOPIFY_WEBHOOK_HEADERS;
  if (raw.body.byteLength > options.maxBytes) {
    return {
      ok: false,
      status: 413,
      error: `body of ${raw.body.byteLength} bytes exceeds ${options.maxBytes}`,
    };
  }
  const signature = header(raw.headers, h.signature);
  if (!signature) return { ok: false, status: 401, error: `missing ${h.signature}` };
  if (!verifyShopifyHmac(raw.body, signature, options.secrets)) {
    return { ok: false, status: 401, error: 'signature does not match the body' };
  }
  const topic = header(raw.headers, h.topic);
  if (!topic) return { ok: false, status: 400, error: `missing ${h.topic}` };

  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
  } catch {
    return { ok: false, status: 400, error: 'body is not UTF-8 JSON' };
  }

  const eventId = header(raw.headers, h.eventId);
  const webhookId = header(raw.headers, h.webhookId);
  const dedupeKey = eventId
    ? `shopify:event:${eventId}`
    : webhookId
      ? `shopify:webhook:${webhookId}`
      : `shopify:sha256:${createHash('sha256').update(raw.body).digest('hex')}`;
  const shop = header(raw.headers, h.shop);
  const triggered = header(raw.headers, h.triggeredAt);
  const triggeredAt = triggered && !Number.isNaN(Date.parse(triggered)) ? new Date(triggered) : undefined;

  const events: WebhookEvent[] = [];
  if (ORDER_TOPICS.has(topic)) {
    const mapped = mapShopifyOrder(payload, options);
    if (mapped.ok) events.push({ kind: 'order', order: mapped.order });
    else if (mapped.platformOrderId !== '?') {
      events.push({
        kind: 'refetch_order',
        platformOrderId: mapped.platformOrderId,
        reason: `payload did not map: ${mapped.error}`,
      });
    } else return { ok: false, status: 400, error: `order payload without an id: ${mapped.error}` };
  } else if (topic === 'refunds/create' || topic === 'orders/edited') {
    const orderId = refOrderId(payload, topic);
    if (orderId === undefined)
      return { ok: false, status: 400, error: `${topic} payload without an order id` };
    events.push({
      kind: 'refetch_order',
      platformOrderId: orderId,
      reason: `${topic} carries only part of the order`,
    });
  }
  return {
    ok: true,
    dedupeKey,
    topic,
    ...(shop ? { shop } : {}),
    ...(triggeredAt ? { triggeredAt } : {}),
    events,
  };
}

function refOrderId(payload: unknown, topic: string): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  const v =
    topic === 'orders/edited' ? (p.order_edit as Record<string, unknown> | undefined)?.order_id : p.order_id;
  return typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)) ? String(v) : undefined;
}
