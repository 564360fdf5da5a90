/**
 * The PDD client: one signed call to the `/api/router` gateway over the injected axios instance.
 * It adds the common parameters (`type`, `client_id`, `access_token`, `timestamp` in UNIX seconds
 * from the injected clock, `data_type=JSON`), signs, POSTs the form, parses the JSON with ids kept
 * exact, unwraps the response through {@link RESPONSE_KEYS} and turns every failure into a typed
 * {@link ConnectorError} through {@link PINDUODUO_ERRORS}. It never retries.
 */
import { createHash } from 'node:crypto';
import { isAxiosError } from 'axios';
import {
  type Classification,
  type ConnectorDeps,
  ConnectorError,
  classify,
  connectorError,
  type FailureFacts,
} from '../contract.js';
import type { PinduoduoConfig } from './config.js';
import { PINDUODUO_ERRORS, pddCode } from './errors.js';
import { unixSeconds } from './time.js';

export const PLATFORM = 'pinduoduo';

/**
 * Response wrapper key per API. PDD's keys cannot be derived from the API name (notes §4.5:
 * `pdd.order.number.list.increment.get` answers in `order_sn_increment_get_response`), so every
 * API the connector calls is listed here; calling another one is a programming error.
 */
export const RESPONSE_KEYS = {
  'pdd.order.number.list.increment.get': 'order_sn_increment_get_response', // [V] SDK docs
  'pdd.order.information.get': 'order_info_get_response', // [V] SDK docs
  'pdd.goods.quantity.update': 'goods_quantity_update_response', // [V] pdd crate
  'pdd.goods.detail.get': 'goods_detail_get_response', // [V] pdd crate
  'pdd.logistics.online.send': 'logistics_online_send_response', // [S] SDK sources
} as const;

export type PddApi = keyof typeof RESPONSE_KEYS;

/** A business parameter value: scalars are sent as text, arrays and objects as their JSON. */
export type PddParam = string | number | boolean | readonly unknown[] | Record<string, unknown> | undefined;

/** The text a parameter is sent (and signed) as. */
export function paramText(v: Exclude<PddParam, undefined>): string {
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * PDD request signature (notes §4.1 [V]): every parameter except `sign` (common and business at
 * the same level), sorted by key in ASCII order, joined as `k1v1k2v2…` with no separators, then
 * MD5(client_secret + joined + client_secret) over UTF-8, uppercase hex. Array and object
 * parameters are signed as the JSON text that is sent (the docs do not say; [U]).
 */
export function signPdd(params: Record<string, string>, clientSecret: string): string {
  const joined = Object.keys(params)
    .filter((k) => k !== 'sign')
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
  return createHash('md5')
    .update(`${clientSecret}${joined}${clientSecret}`, 'utf8')
    .digest('hex')
    .toUpperCase();
}

/**
 * Quotes the integer values of id fields before `JSON.parse`: PDD ids are LONG and a JS number
 * loses digits beyond 2^53.
 */
export function parsePddJson(text: string): unknown {
  return JSON.parse(
    text.replace(
      /"(goods_id|sku_id|order_sn|after_sales_id|request_id|logistics_id|mall_id)"\s*:\s*(-?\d+)(?=\s*[,}\]])/g,
      '"$1":"$2"',
    ),
  );
}

/** What an order_sn looks like (`231126-123456789012345`); anything else is not sent to PDD. */
export const ORDER_SN_RE = /^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/;

/** True for PDD's "order does not exist" business error (tagged by `pddCode`). */
export function isOrderNotFound(err: unknown): boolean {
  return err instanceof ConnectorError && /\|order_not_found$/.test(err.code ?? '');
}

/** PDD's `error_response`. */
export interface PddErrorBody {
  error_code?: number | string;
  error_msg?: string;
  sub_code?: string | number;
  sub_msg?: string;
  request_id?: string;
}

export class PddClient {
  constructor(
    private readonly config: PinduoduoConfig,
    private readonly deps: ConnectorDeps,
  ) {}

  /**
   * Calls one API and returns its wrapper object (e.g. `order_sn_increment_get_response`).
   * Business parameters that are undefined are not sent (and so not signed). Throws
   * {@link ConnectorError}.
   */
  async call(api: PddApi, business: Record<string, PddParam>): Promise<Record<string, unknown>> {
    const params: Record<string, string> = {
      type: api,
      client_id: this.config.clientId,
      access_token: this.config.accessToken,
      timestamp: String(unixSeconds(this.deps.clock.now().getTime())),
      data_type: 'JSON',
    };
    for (const [k, v] of Object.entries(business)) {
      if (v === undefined) continue;
      params[k] = paramText(v);
    }
    params.sign = signPdd(params, this.config.clientSecret);

    const started = this.deps.clock.now().getTime();
    let status: number;
    let text: string;
    let retryAfter: string | undefined;
    try {
      const res = await this.deps.http.request({
        method: 'POST',
        url: this.config.gatewayUrl,
        data: new URLSearchParams(params).toString(),
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8',
          Accept: 'application/json',
        },
        responseType: 'text',
        transformResponse: (d: unknown) => d,
        validateStatus: () => true,
      });
      status = res.status;
      text = typeof res.data === 'string' ? res.data : String(res.data ?? '');
      const ra = res.headers?.['retry-after'];
      retryAfter = typeof ra === 'string' ? ra : undefined;
    } catch (err) {
      const code = isAxiosError(err) ? (err.code ?? 'ERR_NETWORK') : 'UNKNOWN';
      this.log(api, undefined, started, code);
      // The axios error holds the request body (access_token, sign): keep only message and code.
      throw this.fail(api, { code }, err instanceof Error ? err.message : String(err));
    }
    if (status < 200 || status >= 300) {
      this.log(api, status, started);
      const facts: FailureFacts = { status };
      if (retryAfter !== undefined && /^\d{1,6}$/.test(retryAfter.trim())) {
        facts.retryAfterMs = Number(retryAfter.trim()) * 1000;
      }
      throw this.fail(api, facts, text.slice(0, 200));
    }
    let body: Record<string, unknown>;
    try {
      body = parsePddJson(text) as Record<string, unknown>;
    } catch {
      this.log(api, status, started, 'BAD_JSON');
      throw this.fail(api, { status, code: 'BAD_JSON' }, 'response is not JSON', {
        action: 'retry',
        reason: 'PDD answered with something that is not JSON',
      });
    }
    const error = body?.error_response as PddErrorBody | undefined;
    if (error && typeof error === 'object') {
      const detail = [error.error_msg, error.sub_msg].filter(Boolean).join(': ');
      const code = pddCode(error.error_code ?? '?', error.sub_code, detail);
      this.log(api, status, started, code);
      throw this.fail(api, { status, code }, detail);
    }
    const key = RESPONSE_KEYS[api];
    const payload = body?.[key];
    if (payload === undefined || payload === null || typeof payload !== 'object') {
      this.log(api, status, started, 'NO_RESPONSE_KEY');
      throw this.fail(api, { status, code: 'NO_RESPONSE_KEY' }, `no ${key}`, {
        action: 'retry',
        reason: 'PDD answered without the expected response object',
      });
    }
    this.log(api, status, started);
    return payload as Record<string, unknown>;
  }

  /** Classifies and builds the error; `override` bypasses the table. */
  fail(
    api: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(PINDUODUO_ERRORS, facts);
    const what = facts.code ?? String(facts.status ?? 'failed');
    const message = `PDD ${api} -> ${what}: ${c.reason}${detail ? ` (${detail.slice(0, 300)})` : ''}`;
    const cause = Object.assign(new Error(detail ?? what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private log(api: string, status: number | undefined, started: number, code?: string): void {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { api, status, ms, code };
    if (code === undefined) this.deps.log.debug(entry, 'pinduoduo call');
    else this.deps.log.warn(entry, 'pinduoduo call failed');
  }
}
