/**
 * JD push messages (京东消息 / JMQ) delivered to us over HTTP by a relay, as re-fetch hints.
 *
 * JD's message service is consumed by a subscriber (the JOS message SDK / JMQ client), not pushed
 * as an HTTP request signed by JD (notes §6 [U]). stockd therefore expects a small relay that
 * receives each message, acknowledges it to JD, and POSTs it here. That hop is authenticated by
 * OUR scheme, not a JD one (README "Push messages"):
 *
 * - body: `{"id", "topic", "venderId", "timestamp", "content"}` where `content` is the JD
 *   message's JSON (text or object) carrying at least `orderId`;
 * - `X-Jd-Relay-Timestamp`: Unix seconds when the relay sent it;
 * - `X-Jd-Relay-Signature`: uppercase hex HMAC-SHA256(relaySecret, timestamp + "\n" + raw body).
 *
 * Verification (size, MAC under every configured secret, timestamp skew) is the shared relay scheme
 * in `../relay-webhook.ts`. Dedupe key: the message `id` (`jd:msg:<id>`), stable across relay
 * retries; else a SHA-256 of the body.
 *
 * Events: topics naming orders or after-sales (`/order|afs|refund/i`) become `refetch_order`
 * hints for `content.orderId` (notes §0 rule 3); other topics yield none.
 */
import type { RawWebhook, WebhookEvent, WebhookResult } from '../contract.js';
import { jsonObjectOf, parseRelayWebhook, type RelayOptions, relayDedupeKey } from '../relay-webhook.js';
import { parseJdJson } from './client.js';
import { parseJdTime } from './time.js';

export const JD_RELAY_HEADERS = {
  signature: 'X-Jd-Relay-Signature',
  timestamp: 'X-Jd-Relay-Timestamp',
} as const;

/** Verifies and parses one relayed JD message. Never throws. */
export function parseJdRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
  return parseRelayWebhook(raw, JD_RELAY_HEADERS, options, parseJdJson, (msg) => interpret(raw, msg));
}

function interpret(raw: RawWebhook, msg: Record<string, unknown>): WebhookResult {
  const topic = msg.topic;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a topic' };
  const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? String(msg.id) : '';
  const dedupeKey = relayDedupeKey('jd', 'msg', id.slice(0, 200), raw.body);

  const events: WebhookEvent[] = [];
  if (/order|afs|refund/i.test(topic)) {
    const orderId = jsonObjectOf(msg.content, parseJdJson)?.orderId;
    const text = typeof orderId === 'string' || typeof orderId === 'number' ? String(orderId) : '';
    if (!/^\d{1,20}$/.test(text))
      return { ok: false, status: 400, error: `${topic} message without an orderId` };
    events.push({
      kind: 'refetch_order',
      platformOrderId: text,
      reason: `JD message ${topic} is a hint only`,
    });
  }
  const vender = msg.venderId;
  const at = parseJdTime(msg.timestamp);
  return {
    ok: true,
    dedupeKey,
    topic,
    ...((typeof vender === 'string' || typeof vender === 'number') && String(vender) !== ''
      ? { shop: String(vender) }
      : {}),
    ...(at === undefined ? {} : { triggeredAt: new Date(at) }),
    events,
  };
}
