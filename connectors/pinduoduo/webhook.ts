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
 * Verification: the MAC is recomputed over the raw bytes and compared with
 * `crypto.timingSafeEqual` (every configured secret is tried, for rotation); a timestamp further
 * than `relayMaxSkewMs` from the injected clock is refused (replays). Dedupe key: the PMC message
 * `id` (`pinduoduo:pmc:<id>`), stable across relay retries; else a SHA-256 of the body.
 *
 * Events: `pdd_trade_*` and `pdd_refund_*` topics become `refetch_order` hints for the content's
 * `tid` (the order_sn); PMC content is never the full order. Other topics yield none.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Clock, header, type RawWebhook, type WebhookEvent, type WebhookResult } from '../contract.js';
import { ORDER_SN_RE, parsePddJson } from './client.js';

export const PDD_RELAY_HEADERS = {
  signature: 'X-Pdd-Relay-Signature',
  timestamp: 'X-Pdd-Relay-Timestamp',
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

/** Verifies and parses one relayed PMC message. Never throws. */
export function parsePddRelay(raw: RawWebhook, options: RelayOptions): WebhookResult {
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
  const h = PDD_RELAY_HEADERS;
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

  let frame: Record<string, unknown>;
  try {
    const parsed = parsePddJson(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    frame = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, status: 400, error: 'body is not a UTF-8 JSON object' };
  }
  const message = objectOf(frame.message);
  const topic = message?.type;
  if (typeof topic !== 'string' || topic === '')
    return { ok: false, status: 400, error: 'message without a type' };
  const content = objectOf(message?.content);
  const id = typeof frame.id === 'string' || typeof frame.id === 'number' ? String(frame.id) : undefined;
  const dedupeKey = id
    ? `pinduoduo:pmc:${id}`
    : `pinduoduo:sha256:${createHash('sha256').update(raw.body).digest('hex')}`;

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

/** An object, or JSON text of one; undefined otherwise. */
function objectOf(c: unknown): Record<string, unknown> | undefined {
  if (typeof c === 'object' && c !== null && !Array.isArray(c)) return c as Record<string, unknown>;
  if (typeof c !== 'string') return undefined;
  try {
    const v = parsePddJson(c);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
