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
 * Verification: the MAC is recomputed over the raw bytes and compared with
 * `crypto.timingSafeEqual` (every configured secret is tried, for rotation); a timestamp further
 * than `relayMaxSkewMs` from the injected clock is refused (replays). Dedupe key: the message
 * `id` (`jd:msg:<id>`), stable across relay retries; else a SHA-256 of the body.
 *
 * Events: topics naming orders or after-sales (`/order|afs|refund/i`) become `refetch_order`
 * hints for `content.orderId` (notes §0 rule 3); other topics yield none.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Clock, header, type RawWebhook, type WebhookEvent, type WebhookResult } from '../contract.js';
import { parseJdJson } from './client.js';
import { parseJdTime } from './time.js';

export const JD_RELAY_HEADERS = {
  signature: 'X-Jd-Relay-Signature',
  timestamp: 'X-Jd-Relay-Timestamp',
} as const;

const HEX64_RE = /^[0-9A-F]{64}$/;

/** The relay MAC: HMAC-SHA256(secret, `${timestamp}\n` + body). */
export function relayMac(secret: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}\n`, 'utf8').update(body).digest();
}

/** True when `signature` (uppercase hex) matches under one of `secrets`; constant time per secret. */
export function verifyRelaySignature(
  body: Uint8Array,
  timestamp: string,
  signature: string,
  secrets: readonly string[],
): boolean {
  const sig = signature.trim();
  if (!HEX64_RE.test(sig)) return false;
  const given = Buffer.from(sig, 'hex');
  let ok = false;
  for (const secret of secrets) {
    if (timingSafeEqual(relayMac(secret, timestamp, body), given)) ok = true;
  }
  return ok;
}

export interface RelayOptions {
  secrets: readonly string[];
  maxSkewMs: number;
  maxBytes: number;
  clock: Clock;
}

/** Verifies and parses one relayed JD message. Never throws. */
export function parseJdRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
  try {
    return parse(raw, options);
  } catch (err) {
    return {
      ok: false,
      status: 400,
      error: `unreadable message: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

function parse(raw: RawWebhook, options: RelayOptions): WebhookResult {
  const h = JD_RELAY_HEADERS;
  if (raw.body.byteLength > options.maxBytes) {
    return {
      ok: false,
      status: 413,
      error: `body of ${raw.body.byteLength} bytes exceeds ${options.maxBytes}`,
    };
  }
  const signature = header(raw.headers, h.signature);
  if (!signature) return { ok: false, status: 401, error: `missing ${h.signature}` };
  const timestamp = header(raw.headers, h.timestamp)?.trim();
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, status: 401, error: `missing or malformed ${h.timestamp}` };
  }
  if (!verifyRelaySignature(raw.body, timestamp, signature, options.secrets)) {
    return { ok: false, status: 401, error: 'relay signature does not match the body' };
  }
  if (Math.abs(options.clock.now().getTime() - Number(timestamp) * 1000) > options.maxSkewMs) {
    return { ok: false, status: 401, error: 'relay timestamp outside the allowed skew (stale or replayed)' };
  }

  let msg: Record<string, unknown>;
  try {
    const parsed = parseJdJson(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    msg = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, status: 400, error: 'body is not a UTF-8 JSON object' };
  }
  const topic = msg.topic;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a topic' };
  const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? String(msg.id) : '';
  const dedupeKey = id
    ? `jd:msg:${id.slice(0, 200)}`
    : `jd:sha256:${createHash('sha256').update(raw.body).digest('hex')}`;

  const events: WebhookEvent[] = [];
  if (/order|afs|refund/i.test(topic)) {
    const orderId = contentOf(msg.content)?.orderId;
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

function contentOf(c: unknown): Record<string, unknown> | undefined {
  if (typeof c === 'object' && c !== null && !Array.isArray(c)) return c as Record<string, unknown>;
  if (typeof c !== 'string') return undefined;
  try {
    const v = parseJdJson(c);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
