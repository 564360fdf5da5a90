/**
 * Deliveries no platform would send, POSTed by the chaos driver straight to the daemon's
 * `/webhooks/<platform>/<shopId>`: a wrong secret, no signature, a body changed after signing, a
 * stale relay timestamp (refused 401), and correctly signed bodies that are cut short or name no
 * order (refused 400). Each names a fake order id ({@link FAKE_ORDER_BASE} + n) and, where the
 * platform has one, a delivery id `chaos-bad-<n>`, so the final check can prove none of them left a
 * trace: no inbox row, no order.
 *
 * The signing follows each platform's scheme as the connectors document it (Shopify: base64
 * HMAC-SHA256 of the body; Taobao relay: uppercase hex HMAC-SHA256 of `timestamp\n` + body;
 * Douyin: md5 of app key + body + app secret).
 */
import { createHash, createHmac } from 'node:crypto';

/** Fake order ids start here; the sandboxes' ids never contain `98765000`. */
export const FAKE_ORDER_BASE = 98_765_000_000;
export const FAKE_ORDER_MARK = '98765000';
export const FAKE_DELIVERY_MARK = 'chaos-bad-';

export type BadKind =
  | 'wrong_secret'
  | 'missing_signature'
  | 'tampered_body'
  | 'stale_timestamp'
  | 'truncated_json'
  | 'no_order_id';

/** What the daemon must answer for each kind. */
export const EXPECTED_STATUS: Record<BadKind, number> = {
  wrong_secret: 401,
  missing_signature: 401,
  tampered_body: 401,
  stale_timestamp: 401,
  truncated_json: 400,
  no_order_id: 400,
};

export interface BadDelivery {
  kind: BadKind;
  headers: Record<string, string>;
  body: Buffer;
}

type Platform = 'shopify' | 'taobao' | 'douyin';

/** The kinds a platform's scheme can express (only the relay scheme carries a timestamp). */
export function badKindsFor(platform: Platform): BadKind[] {
  const all: BadKind[] = [
    'wrong_secret',
    'missing_signature',
    'tampered_body',
    'truncated_json',
    'no_order_id',
  ];
  return platform === 'taobao' ? [...all, 'stale_timestamp'] : all;
}

/** Builds one bad delivery of `kind` for a shop whose connector config is `config`. */
export function badDelivery(
  platform: Platform,
  config: Record<string, unknown>,
  kind: BadKind,
  n: number,
  now = Date.now(),
): BadDelivery {
  const fakeId = FAKE_ORDER_BASE + n;
  const deliveryId = `${FAKE_DELIVERY_MARK}${n}`;
  const s = (k: string) => String(config[k] ?? '');
  switch (platform) {
    case 'shopify': {
      const secret = s('apiSecret');
      const good = Buffer.from(
        JSON.stringify({ id: fakeId, name: `#${fakeId}`, updated_at: new Date(now).toISOString() }),
      );
      const body =
        kind === 'truncated_json'
          ? good.subarray(0, good.byteLength - 7)
          : kind === 'no_order_id'
            ? Buffer.from(JSON.stringify({ note: `chaos ${fakeId}`, line_items: [] }))
            : good;
      const signed = kind === 'tampered_body' ? Buffer.from(JSON.stringify({ id: 1 })) : body;
      const sign = (b: Buffer, key: string) => createHmac('sha256', key).update(b).digest('base64');
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-shopify-topic': 'orders/updated',
        'x-shopify-shop-domain': 'chaos.myshopify.com',
        'x-shopify-event-id': deliveryId,
        'x-shopify-webhook-id': deliveryId,
        'x-shopify-triggered-at': new Date(now).toISOString(),
      };
      if (kind !== 'missing_signature')
        headers['x-shopify-hmac-sha256'] = sign(signed, kind === 'wrong_secret' ? `${secret}-wrong` : secret);
      return { kind, headers, body };
    }
    case 'taobao': {
      const secret = s('relaySecret');
      const content =
        kind === 'no_order_id'
          ? `{"note":"chaos ${fakeId}"}`
          : `{"tid":${fakeId},"status":"WAIT_SELLER_SEND_GOODS"}`;
      const good = Buffer.from(
        `{"id":${fakeId},"topic":"taobao_trade_TradeChanged","pub_time":"2026-01-01 00:00:00",` +
          `"user_nick":"chaos","content":${JSON.stringify(content)}}`,
      );
      const body = kind === 'truncated_json' ? good.subarray(0, good.byteLength - 9) : good;
      const ts = String(Math.floor((kind === 'stale_timestamp' ? now - 2 * 3600_000 : now) / 1000));
      const signed = kind === 'tampered_body' ? Buffer.from('{"id":1}') : body;
      const mac = (key: string) =>
        createHmac('sha256', key).update(`${ts}\n`).update(signed).digest('hex').toUpperCase();
      const headers: Record<string, string> = {
        'content-type': 'application/json;charset=utf-8',
        'x-top-relay-timestamp': ts,
      };
      if (kind !== 'missing_signature')
        headers['x-top-relay-signature'] = mac(kind === 'wrong_secret' ? `${secret}-wrong` : secret);
      return { kind, headers, body };
    }
    case 'douyin': {
      const appKey = s('appKey');
      const secret = s('appSecret');
      const data =
        kind === 'no_order_id'
          ? `{"note":"chaos ${fakeId}","order_status":2}`
          : `{"p_id":${fakeId},"s_ids":[${fakeId}],"order_status":2,"biz":2}`;
      const good = Buffer.from(`[{"tag":"110","msg_id":"${deliveryId}","data":${JSON.stringify(data)}}]`);
      const body = kind === 'truncated_json' ? good.subarray(0, good.byteLength - 5) : good;
      const signed = kind === 'tampered_body' ? Buffer.from('[]') : body;
      const md5 = (key: string) => createHash('md5').update(appKey).update(signed).update(key).digest('hex');
      const headers: Record<string, string> = { 'content-type': 'application/json', 'app-id': appKey };
      if (kind !== 'missing_signature')
        headers['event-sign'] = md5(kind === 'wrong_secret' ? `${secret}-wrong` : secret);
      return { kind, headers, body };
    }
  }
}
