/**
 * The TOP client: one signed call to the `/router/rest` gateway over the injected axios
 * instance. It adds the system parameters (`method`, `app_key`, `session`, `timestamp` in GMT+8
 * from the injected clock, `format=json`, `v=2.0`, `sign_method`), signs, POSTs the form, parses
 * the JSON with large ids kept exact, and turns every failure into a typed
 * {@link ConnectorError} through {@link TAOBAO_ERRORS}. It never retries.
 */
import { createHash, createHmac } from 'node:crypto';
import { isAxiosError } from 'axios';
import {
  type Classification,
  type ConnectorDeps,
  type ConnectorError,
  classify,
  connectorError,
  type FailureFacts,
  parseRetryAfter,
} from '../contract.js';
import type { TaobaoConfig } from './config.js';
import { banMs, TAOBAO_ERRORS, topCode } from './errors.js';
import { formatTopTime } from './time.js';

export const PLATFORM = 'taobao';

export type SignMethod = TaobaoConfig['signMethod'];

/**
 * TOP request signature (notes §3.2 [V]): every parameter except `sign` with a non-empty value,
 * sorted by key (ASCII), joined as `key1value1key2value2…`, UTF-8; then
 * md5: MD5(secret + joined + secret); hmac: HMAC-MD5(secret, joined);
 * hmac-sha256: HMAC-SHA256(secret, joined). Uppercase hex.
 */
export function signTop(params: Record<string, string>, secret: string, method: SignMethod): string {
  const joined = Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
  const digest =
    method === 'md5'
      ? createHash('md5').update(`${secret}${joined}${secret}`, 'utf8').digest('hex')
      : createHmac(method === 'hmac' ? 'md5' : 'sha256', secret)
          .update(joined, 'utf8')
          .digest('hex');
  return digest.toUpperCase();
}

/**
 * Quotes the integer values of id fields before `JSON.parse`: Taobao `tid`/`oid` are 19-digit
 * numbers, above 2^53, and would silently lose their last digits as JS numbers.
 */
export function parseTopJson(text: string): unknown {
  return JSON.parse(
    text.replace(
      /"(tid|oid|num_iid|sku_id|refund_id|gift_item_id|item_id|id|tid_str|oid_str)"\s*:\s*(-?\d+)(?=\s*[,}\]])/g,
      '"$1":"$2"',
    ),
  );
}

/** TOP's `error_response`. */
export interface TopErrorBody {
  code?: number | string;
  msg?: string;
  sub_code?: string;
  sub_msg?: string;
  request_id?: string;
}

export class TopClient {
  constructor(
    private readonly config: TaobaoConfig,
    private readonly deps: ConnectorDeps,
  ) {}

  /**
   * Calls one API and returns its `<name>_response` object (for `taobao.trade.fullinfo.get`:
   * `trade_fullinfo_get_response`). Business parameters with undefined or empty values are not
   * sent (and so not signed). Throws {@link ConnectorError}.
   */
  async call(
    method: string,
    business: Record<string, string | number | boolean | undefined>,
    options: { withSession?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const params: Record<string, string> = {
      method,
      app_key: this.config.appKey,
      timestamp: formatTopTime(this.deps.clock.now().getTime()),
      format: 'json',
      v: '2.0',
      sign_method: this.config.signMethod,
    };
    if (options.withSession !== false) params.session = this.config.session;
    for (const [k, v] of Object.entries(business)) {
      if (v === undefined || v === '') continue;
      params[k] = String(v);
    }
    params.sign = signTop(params, this.config.appSecret, this.config.signMethod);

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
      this.log(method, undefined, started, code);
      // The axios error holds the request body (session, sign): keep only message and code.
      throw this.fail(method, { code }, err instanceof Error ? err.message : String(err));
    }
    if (status < 200 || status >= 300) {
      this.log(method, status, started);
      const facts: FailureFacts = { status };
      const wait = parseRetryAfter(retryAfter, this.deps.clock);
      if (wait !== undefined) facts.retryAfterMs = wait;
      throw this.fail(method, facts, text.slice(0, 200));
    }
    let body: Record<string, unknown>;
    try {
      body = parseTopJson(text) as Record<string, unknown>;
    } catch {
      this.log(method, status, started, 'BAD_JSON');
      throw this.fail(method, { status, code: 'BAD_JSON' }, 'response is not JSON', {
        action: 'retry',
        reason: 'TOP answered with something that is not JSON',
      });
    }
    const error = body?.error_response as TopErrorBody | undefined;
    if (error && typeof error === 'object') {
      const code = topCode(error.code ?? '?', error.sub_code);
      this.log(method, status, started, code);
      const facts: FailureFacts = { status, code };
      const wait = banMs(error.sub_msg);
      if (wait !== undefined) facts.retryAfterMs = wait;
      const detail = [error.msg, error.sub_msg].filter(Boolean).join(': ');
      throw this.fail(method, facts, detail);
    }
    const key = `${method.replace(/^taobao\./, '').replace(/\./g, '_')}_response`;
    const payload = body?.[key];
    if (payload === undefined || payload === null || typeof payload !== 'object') {
      this.log(method, status, started, 'NO_RESPONSE_KEY');
      throw this.fail(method, { status, code: 'NO_RESPONSE_KEY' }, `no ${key}`, {
        action: 'retry',
        reason: 'TOP answered without the expected response object',
      });
    }
    this.log(method, status, started);
    return payload as Record<string, unknown>;
  }

  /** Classifies and builds the error; `override` bypasses the table. */
  fail(
    method: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(TAOBAO_ERRORS, facts);
    const what = facts.code ?? String(facts.status ?? 'failed');
    const message = `TOP ${method} -> ${what}: ${c.reason}${detail ? ` (${detail.slice(0, 300)})` : ''}`;
    const cause = Object.assign(new Error(detail ?? what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private log(method: string, status: number | undefined, started: number, code?: string): void {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { api: method, status, ms, code };
    if (code === undefined) this.deps.log.debug(entry, 'taobao call');
    else this.deps.log.warn(entry, 'taobao call failed');
  }
}
