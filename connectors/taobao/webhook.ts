/**
 * TMC messages delivered to us over HTTP by a relay, as re-fetch hints.
 *
 * TOP's message service (TMC) is consumed over a long-lived WebSocket (`ws://mc.api.taobao.com/`,
 * notes §3.7 [S]) or by polling `taobao.tmc.messages.consume` [U]; neither is an HTTP push signed
 * by TOP. stockd therefore expects a small relay (the TMC SDK client, or a poller) that receives
 * each message, confirms it to TMC, and POSTs it here. That hop is authenticated by OUR scheme —
 * not a Taobao one — documented in the README:
 *
 * - body: the TMC message as JSON, unchanged: `{"id", "topic", "pub_time", "pub_app_key",
 *   "user_id", "user_nick", "content"}` where `content` is the message's JSON text (or object);
 * - `X-Top-Relay-Timestamp`: Unix seconds when the relay sent it;
 * - `X-Top-Relay-Signature`: uppercase hex HMAC-SHA256(relaySecret, timestamp + "\n" + raw body).
 *
 * Verification (size, MAC under every configured secret, timestamp skew) is the shared relay scheme
 * in `../relay-webhook.ts`. Dedupe key: the TMC message `id` (`taobao:tmc:<id>`), stable across
 * relay retries; else a SHA-256 of the body.
 *
 * Events: `taobao_trade_*` and `taobao_refund_*` topics become `refetch_order` hints for the
 * message's `tid` (notes §0 rule 3: TMC content is never the full trade); other topics yield none.
 */
import type { RawWebhook, WebhookEvent, WebhookResult } from '../contract.js';
import { jsonObjectOf, parseRelayWebhook, type RelayOptions, relayDedupeKey } from '../relay-webhook.js';
import { parseTopJson } from './client.js';
import { parseTopTime } from './time.js';

export const TAOBAO_RELAY_HEADERS = {
  signature: 'X-Top-Relay-Signature',
  timestamp: 'X-Top-Relay-Timestamp',
} as const;

/** Verifies and parses one relayed TMC message. Never throws. */
export function parseTaobaoRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
  return parseRelayWebhook(raw, TAOBAO_RELAY_HEADERS, options, parseTopJson, (msg) => interpret(raw, msg));
}

function interpret(raw: RawWebhook, msg: Record<string, unknown>): WebhookResult {
  const topic = msg.topic;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a topic' };
  const content = jsonObjectOf(msg.content, parseTopJson);
  const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? String(msg.id) : undefined;
  const dedupeKey = relayDedupeKey('taobao', 'tmc', id, raw.body);

  const events: WebhookEvent[] = [];
  if (topic.startsWith('taobao_trade_') || topic.startsWith('taobao_refund_')) {
    const tid = content?.tid;
    const tidText = typeof tid === 'string' || typeof tid === 'number' ? String(tid) : '';
    if (!/^\d{1,20}$/.test(tidText))
      return { ok: false, status: 400, error: `${topic} message without a tid` };
    events.push({ kind: 'refetch_order', platformOrderId: tidText, reason: `TMC ${topic} is a hint only` });
  }
  const nick = msg.user_nick;
  const pub = parseTopTime(msg.pub_time);
  return {
    ok: true,
    dedupeKey,
    topic,
    ...(typeof nick === 'string' && nick ? { shop: nick } : {}),
    ...(pub === undefined ? {} : { triggeredAt: new Date(pub) }),
    events,
  };
}
