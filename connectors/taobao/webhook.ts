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
 * Verification: the MAC is recomputed over the raw bytes and compared with
 * `crypto.timingSafeEqual` (every configured secret is tried, for rotation); a timestamp further
 * than `relayMaxSkewMs` from the injected clock is refused (replays). Dedupe key: the TMC message
 * `id` (`taobao:tmc:<id>`), stable across relay retries; else a SHA-256 of the body.
 *
 * Events: `taobao_trade_*` and `taobao_refund_*` topics become `refetch_order` hints for the
 * message's `tid` (notes §0 rule 3: TMC content is never the full trade); other topics yield none.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Clock, header, type RawWebhook, type WebhookEvent, type WebhookResult } from '../contract.js';
import { parseTopJson } from './client.js';
import { parseTopTime } from './time.js';

export const TAOBAO_RELAY_HEADERS = {
  signature: 'X-Top-Relay-Signature',
  timestamp: 'X-Top-Relay-Timestamp',
} as const;

const HEX64_RE = /^[0-9A-F]{64}$/;

/** The relay MAC: uppercase hex HMAC-SHA256(secret, `${timestamp}\n` + body). */
export function relayMac(secret: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}\n`, 'utf8').update(body).digest();
}

/** True when `signature` matches under one of `secrets`; constant time per secret. */
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

/** Verifies and parses one relayed TMC message. Never throws. */
export function parseTaobaoRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
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
  const h = TAOBAO_RELAY_HEADERS;
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
  const sentAt = Number(timestamp) * 1000;
  if (Math.abs(options.clock.now().getTime() - sentAt) > options.maxSkewMs) {
    return { ok: false, status: 401, error: 'relay timestamp outside the allowed skew (stale or replayed)' };
  }

  let msg: Record<string, unknown>;
  try {
    const parsed = parseTopJson(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    msg = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, status: 400, error: 'body is not a UTF-8 JSON object' };
  }
  const topic = msg.topic;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a topic' };
  const content = contentOf(msg.content);
  const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? String(msg.id) : undefined;
  const dedupeKey = id
    ? `taobao:tmc:${id}`
    : `taobao:sha256:${createHash('sha256').update(raw.body).digest('hex')}`;

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

function contentOf(c: unknown): Record<string, unknown> | undefined {
  if (typeof c === 'object' && c !== null && !Array.isArray(c)) return c as Record<string, unknown>;
  if (typeof c !== 'string') return undefined;
  try {
    const v = parseTopJson(c);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
