/**
 * PMC push messages delivered to us over HTTP by a relay, as re-fetch hints.
 *
 * PDD's message service (PMC) is a WebSocket the app opens to
 * `wss://message-api.pinduoduo.com/message/{client_id}/{timestamp_ms}/{sign}` (notes §4.1 [S]);
 * PDD does not POST messages anywhere, so there is no PDD signature to check over HTTP. stockd
 * therefore expects a small relay (the PMC client: it holds the socket, heartbeats, acks each
 * message and POSTs it here). That hop is authenticated by OUR scheme — not a PDD one [U as to
 * the message format the relay forwards] — documented in the README:
 *
 * - body: the PMC frame as received, unchanged:
 *   `{"id", "commandType": "Common", "time", "sendTime", "message": {"type", "mallID", "content"}}`
 *   where `content` is the message's JSON text (e.g. `{"tid": "<order_sn>", "mall_id": …}`);
 * - `X-Pdd-Relay-Timestamp`: UNIX seconds when the relay sent it;
 * - `X-Pdd-Relay-Signature`: uppercase hex HMAC-SHA256(relaySecret, timestamp + "\n" + raw body).
 *
 * Verification (size, MAC under every configured secret, timestamp skew) is the shared relay scheme
 * in `../relay-webhook.ts`. Dedupe key: the PMC message `id` (`pinduoduo:pmc:<id>`), stable across
 * relay retries; else a SHA-256 of the body.
 *
 * Events: `pdd_trade_*` and `pdd_refund_*` topics become `refetch_order` hints for the content's
 * `tid` (the order_sn); PMC content is never the full order. Other topics yield none.
 */
import type { RawWebhook, WebhookEvent, WebhookResult } from '../contract.js';
import { jsonObjectOf, parseRelayWebhook, type RelayOptions, relayDedupeKey } from '../relay-webhook.js';
import { ORDER_SN_RE, parsePddJson } from './client.js';

export const PDD_RELAY_HEADERS = {
  signature: 'X-Pdd-Relay-Signature',
  timestamp: 'X-Pdd-Relay-Timestamp',
} as const;

/** Verifies and parses one relayed PMC message. Never throws. */
export function parsePddRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
  return parseRelayWebhook(raw, PDD_RELAY_HEADERS, options, parsePddJson, (msg) => interpret(raw, msg));
}

function interpret(raw: RawWebhook, frame: Record<string, unknown>): WebhookResult {
  const message = jsonObjectOf(frame.message, parsePddJson);
  const topic = message?.type;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a type' };
  const content = jsonObjectOf(message?.content, parsePddJson);
  const id = typeof frame.id === 'string' || typeof frame.id === 'number' ? String(frame.id) : undefined;
  const dedupeKey = relayDedupeKey('pinduoduo', 'pmc', id, raw.body);

  const events: WebhookEvent[] = [];
  if (topic.startsWith('pdd_trade_') || topic.startsWith('pdd_refund_')) {
    const tid = content?.tid;
    const sn = typeof tid === 'string' || typeof tid === 'number' ? String(tid) : '';
    if (!ORDER_SN_RE.test(sn)) return { ok: false, status: 400, error: `${topic} message without a tid` };
    events.push({ kind: 'refetch_order', platformOrderId: sn, reason: `PMC ${topic} is a hint only` });
  }
  const mall = message?.mallID;
  const sentAt =
    typeof frame.sendTime === 'number'
      ? frame.sendTime
      : typeof frame.time === 'number'
        ? frame.time
        : undefined;
  return {
    ok: true,
    dedupeKey,
    topic,
    ...(typeof mall === 'string' || typeof mall === 'number' ? { shop: String(mall) } : {}),
    ...(sentAt !== undefined && Number.isFinite(sentAt) && sentAt > 0 && sentAt < 8.64e15
      ? { triggeredAt: new Date(sentAt) }
      : {}),
    events,
  };
}
