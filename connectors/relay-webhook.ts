/**
 * stockd's HMAC "relay" webhook scheme, shared by the connectors whose platform does not push signed
 * HTTP requests (Taobao TMC, Pinduoduo PMC, JD JMQ). Each of those platforms delivers messages over
 * a socket or a subscriber SDK; a small relay run next to stockd holds that connection, acknowledges
 * each message to the platform and POSTs it here. That hop is authenticated by OUR scheme, not the
 * platform's:
 *
 * - body: the platform's message as JSON, unchanged (its shape is the connector's business);
 * - `<timestamp header>`: Unix seconds (1 to 12 digits) when the relay sent it;
 * - `<signature header>`: uppercase hex HMAC-SHA256(relaySecret, timestamp + "\n" + raw body).
 *
 * Verification, in this order (the statuses and messages are part of the contract):
 * 1. a body larger than `maxBytes` is refused with 413;
 * 2. a missing signature header, or a missing / non-numeric timestamp header, gives 401;
 * 3. the MAC is recomputed over the raw bytes and compared with `crypto.timingSafeEqual` under every
 *    configured secret (current first, then previous ones, for rotation); no match gives 401;
 * 4. a timestamp further than `maxSkewMs` from the injected clock gives 401 (stale or replayed);
 * 5. the body must be a UTF-8 JSON object (parsed with the platform's big-number-safe parser), else 400.
 *
 * Dedupe: by the platform's message id (`<platform>:<kind>:<id>`), stable across relay retries; a
 * message without one falls back to a SHA-256 of the body (`<platform>:sha256:<hex>`).
 *
 * Each connector keeps its own headers, topics, ids and event mapping in its folder and hands
 * them to {@link parseRelayWebhook}.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Clock, header, type RawWebhook, type WebhookResult } from './contract.js';

/** The two header names a platform's relay uses. */
export interface RelayHeaders {
  readonly signature: string;
  readonly timestamp: string;
}

export interface RelayOptions {
  secrets: readonly string[];
  maxSkewMs: number;
  maxBytes: number;
  clock: Clock;
}

/** A JSON parser that keeps a platform's large numeric ids exact (e.g. as strings). */
export type JsonParser = (text: string) => unknown;

const HEX64_RE = /^[0-9A-F]{64}$/;

/** The relay MAC: HMAC-SHA256(secret, `${timestamp}\n` + body); sent as uppercase hex. */
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

/** The dedupe key of a relayed message: by its id when it has one, else by a SHA-256 of the body. */
export function relayDedupeKey(
  platform: string,
  kind: string,
  id: string | undefined,
  body: Uint8Array,
): string {
  return id
    ? `${platform}:${kind}:${id}`
    : `${platform}:sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** An object, or the JSON text of one (parsed with `parseJson`); undefined otherwise. */
export function jsonObjectOf(c: unknown, parseJson: JsonParser): Record<string, unknown> | undefined {
  if (typeof c === 'object' && c !== null && !Array.isArray(c)) return c as Record<string, unknown>;
  if (typeof c !== 'string') return undefined;
  try {
    const v = parseJson(c);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies one relayed message (steps 1–5 above) and hands its JSON object to `interpret`, the
 * connector's own parsing. Never throws: an exception becomes a 400 `unreadable message: …`.
 */
export function parseRelayWebhook(
  raw: RawWebhook,
  headers: RelayHeaders,
  options: RelayOptions,
  parseJson: JsonParser,
  interpret: (message: Record<string, unknown>) => WebhookResult,
): WebhookResult {
  try {
    const failure = verifyRelay(raw, headers, options);
    if (failure) return failure;
    let message: Record<string, unknown>;
    try {
      const parsed = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(raw.body));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      message = parsed as Record<string, unknown>;
    } catch {
      return { ok: false, status: 400, error: 'body is not a UTF-8 JSON object' };
    }
    return interpret(message);
  } catch (err) {
    return {
      ok: false,
      status: 400,
      error: `unreadable message: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** Size, headers, signature and timestamp skew; the refusal, or undefined when the message passes. */
function verifyRelay(raw: RawWebhook, h: RelayHeaders, options: RelayOptions): WebhookResult | undefined {
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
  return undefined;
}
