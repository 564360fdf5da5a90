/**
 * WooCommerce webhook verification and parsing (core `WC_Webhook::deliver` [V]).
 *
 * Verification: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, exact body bytes)),
 * compared with `crypto.timingSafeEqual` on the decoded 32 bytes before the body is decoded.
 * WooCommerce HTML-entity-decodes the secret before use (`wp_specialchars_decode`), so a
 * configured secret containing entities is tried decoded as well. Every configured secret
 * (rotation) is tried, each in constant time.
 *
 * The ping: when a webhook is saved, WooCommerce POSTs the form body `webhook_id=<n>` with no
 * signature and keeps the webhook pending until it gets a 2xx. It is accepted (topic `ping`, no
 * events) — it carries nothing — while any other unsigned body is a 401.
 *
 * Dedupe key: WooCommerce does not retry deliveries, but a manual redelivery gets a new
 * `X-WC-Webhook-Delivery-ID` (`wp_hash(webhook id + time)`), so for order payloads the key is
 * `(webhook id, topic, order id, date_modified_gmt)`: the same order state delivered twice gives
 * the same key. Other payloads use `(webhook id, delivery id)`, else a SHA-256 of the body.
 *
 * Events: `order.created|updated|restored` carry the full order (`kind: 'order'`). An order with
 * refunds becomes a re-fetch hint instead, because the payload has only refund summaries and the
 * per-line detail needs `GET /orders/{id}/refunds`. `order.deleted` carries only `{id}`: a
 * re-fetch hint. trash / checkout-draft orders and non-order topics give no events.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { header, type RawWebhook, type WebhookEvent, type WebhookResult } from '../contract.js';
import { IGNORED_STATUSES, type MappingOptions, mapWooOrder } from './mapping.js';

export const WOO_WEBHOOK_HEADERS = {
  signature: 'X-WC-Webhook-Signature',
  topic: 'X-WC-Webhook-Topic',
  webhookId: 'X-WC-Webhook-ID',
  deliveryId: 'X-WC-Webhook-Delivery-ID',
  source: 'X-WC-Webhook-Source',
  resource: 'X-WC-Webhook-Resource',
  event: 'X-WC-Webhook-Event',
} as const;

const FULL_ORDER_TOPICS = new Set(['order.created', 'order.updated', 'order.restored']);
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const PING_RE = /^webhook_id=(\d{1,19})$/;

/** WordPress `wp_specialchars_decode($s, ENT_QUOTES)`: the five entities WordPress encodes. */
export function specialcharsDecode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;|&#0*34;|&#x0*22;/gi, '"')
    .replace(/&#0*39;|&#x0*27;/gi, "'")
    .replace(/&amp;|&#0*38;|&#x0*26;/gi, '&');
}

/** True when `signature` is the base64 HMAC-SHA256 of `body` under one of `secrets`. */
export function verifyWooSignature(body: Uint8Array, signature: string, secrets: readonly string[]): boolean {
  const sig = signature.trim();
  if (!BASE64_RE.test(sig)) return false;
  const given = Buffer.from(sig, 'base64');
  if (given.length !== 32) return false;
  const keys = new Set<string>();
  for (const s of secrets) {
    keys.add(s);
    keys.add(specialcharsDecode(s));
  }
  let ok = false;
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(body).digest();
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
export function parseWooWebhook(raw: RawWebhook, options: WebhookOptions): WebhookResult {
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
  const h = WOO_WEBHOOK_HEADERS;
  if (raw.body.byteLength > options.maxBytes) {
    return {
      ok: false,
      status: 413,
      error: `body of ${raw.body.byteLength} bytes exceeds ${options.maxBytes}`,
    };
  }
  const signature = header(raw.headers, h.signature);
  const webhookId = header(raw.headers, h.webhookId);
  if (!signature) {
    const ping =
      raw.body.byteLength <= 64 ? PING_RE.exec(Buffer.from(raw.body).toString('latin1').trim()) : null;
    if (ping) {
      return { ok: true, dedupeKey: `woocommerce:ping:${ping[1]}`, topic: 'ping', events: [] };
    }
    return { ok: false, status: 401, error: `missing ${h.signature}` };
  }
  if (!verifyWooSignature(raw.body, signature, options.secrets)) {
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
  const p = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {};
  const resourceId =
    typeof p.id === 'number' || (typeof p.id === 'string' && /^\d+$/.test(p.id)) ? String(p.id) : undefined;
  const modified = typeof p.date_modified_gmt === 'string' ? p.date_modified_gmt : undefined;
  const wh = webhookId ?? '-';
  const deliveryId = header(raw.headers, h.deliveryId);
  const dedupeKey =
    topic.startsWith('order.') && resourceId && modified
      ? `woocommerce:${wh}:${topic}:${resourceId}@${modified}`
      : deliveryId
        ? `woocommerce:${wh}:delivery:${deliveryId}`
        : `woocommerce:sha256:${createHash('sha256').update(raw.body).digest('hex')}`;
  const source = header(raw.headers, h.source);

  const events: WebhookEvent[] = [];
  if (FULL_ORDER_TOPICS.has(topic)) {
    if (!resourceId) return { ok: false, status: 400, error: `${topic} payload without an order id` };
    const status = typeof p.status === 'string' ? p.status : '';
    const refunds = Array.isArray(p.refunds) ? p.refunds : [];
    if (IGNORED_STATUSES.has(status)) {
      // A draft or trashed order: nothing to book.
    } else if (refunds.length > 0) {
      events.push({
        kind: 'refetch_order',
        platformOrderId: resourceId,
        reason: 'refund line details need GET /orders/{id}/refunds',
      });
    } else {
      const mapped = mapWooOrder(payload, options);
      if (mapped.ok) events.push({ kind: 'order', order: mapped.order });
      else if (!mapped.ignored) {
        events.push({
          kind: 'refetch_order',
          platformOrderId: resourceId,
          reason: `payload did not map: ${mapped.error}`,
        });
      }
    }
  } else if (topic === 'order.deleted') {
    if (!resourceId) return { ok: false, status: 400, error: 'order.deleted payload without an id' };
    events.push({ kind: 'refetch_order', platformOrderId: resourceId, reason: 'order deleted or trashed' });
  }
  return { ok: true, dedupeKey, topic, ...(source ? { shop: source } : {}), events };
}
