/**
 * The JOS client: one signed call to `routerjson` over the injected axios instance. It builds
 * the system parameters (`method`, `app_key`, `access_token`, `timestamp` in GMT+8 from the
 * injected clock, `v=2.0`), puts the business parameters into ONE compact JSON string
 * (`360buy_param_json`), signs exactly what it sends, POSTs the form, parses the JSON with long
 * integers kept exact, unwraps `<method>_responce` and turns every failure into a typed
 * {@link ConnectorError} through {@link JD_ERRORS}. It never retries.
 */
import { createHash } from 'node:crypto';
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
import type { JdConfig } from './config.js';
import { JD_ERRORS } from './errors.js';
import { formatJdTimestamp } from './time.js';

export const PLATFORM = 'jd';

/**
 * JOS request signature (notes §6.1 [V], from the official SDK): every parameter except `sign`
 * (system parameters, `access_token` and `360buy_param_json`), sorted by key in ASCII order,
 * joined as `key1value1key2value2…` (UTF-8), wrapped as `secret + joined + secret`, MD5,
 * uppercase hex. Undefined values are left out.
 */
export function signJd(params: Record<string, string | undefined>, secret: string): string {
  const joined = Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined)
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
  return createHash('md5').update(`${secret}${joined}${secret}`, 'utf8').digest('hex').toUpperCase();
}

/**
 * The `360buy_param_json` text: compact JSON, keys sorted (the JOS guide shows the business
 * JSON sorted by key [S]); undefined values dropped. This exact text is signed and sent.
 */
export function paramJson(business: Record<string, string | number | boolean | undefined>): string {
  const sorted: Record<string, string | number | boolean> = {};
  for (const k of Object.keys(business).sort()) {
    const v = business[k];
    if (v !== undefined) sorted[k] = v;
  }
  return JSON.stringify(sorted);
}

/**
 * Quotes integers of 16 digits or more before `JSON.parse`, so ids beyond 2^53 never lose digits
 * (JD sends most ids as strings, but not every API does [U]).
 */
export function parseJdJson(text: string): unknown {
  return JSON.parse(text.replace(/("[A-Za-z_][\w]*"\s*:\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

/** JOS's `error_response`. */
export interface JdErrorBody {
  code?: string | number;
  zh_desc?: string;
  en_desc?: string;
}

/** The `apiResult` block many JOS APIs put in their result. */
export interface ApiResult {
  success?: boolean | string;
  chineseErrCode?: string;
  englishErrCode?: string;
  numberCode?: number | string;
}

export class JdClient {
  constructor(
    private readonly config: JdConfig,
    private readonly deps: ConnectorDeps,
  ) {}

  /**
   * Calls one API and returns its `<method with _>_responce` object (for
   * `jingdong.pop.order.search`: `jingdong_pop_order_search_responce`, misspelled by JD).
   * Throws {@link ConnectorError}.
   */
  async call(
    method: string,
    business: Record<string, string | number | boolean | undefined>,
  ): Promise<Record<string, unknown>> {
    const params: Record<string, string> = {
      '360buy_param_json': paramJson(business),
      access_token: this.config.accessToken,
      app_key: this.config.appKey,
      method,
      timestamp: formatJdTimestamp(this.deps.clock.now().getTime()),
      v: '2.0',
    };
    params.sign = signJd(params, this.config.appSecret);

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
      // The axios error holds the request body (access_token, sign): keep only message and code.
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
      body = parseJdJson(text) as Record<string, unknown>;
    } catch {
      this.log(method, status, started, 'BAD_JSON');
      throw this.fail(method, { status, code: 'BAD_JSON' }, 'response is not JSON', {
        action: 'retry',
        reason: 'JOS answered with something that is not JSON',
      });
    }
    const error = body?.error_response as JdErrorBody | undefined;
    if (error && typeof error === 'object') {
      const code = String(error.code ?? '?');
      this.log(method, status, started, code);
      throw this.fail(method, { status, code }, [error.en_desc, error.zh_desc].filter(Boolean).join(' / '));
    }
    const key = `${method.replace(/\./g, '_')}_responce`;
    const payload = body?.[key];
    if (payload === undefined || payload === null || typeof payload !== 'object') {
      this.log(method, status, started, 'NO_RESPONSE_KEY');
      throw this.fail(method, { status, code: 'NO_RESPONSE_KEY' }, `no ${key}`, {
        action: 'retry',
        reason: 'JOS answered without the expected response object',
      });
    }
    this.log(method, status, started);
    return payload as Record<string, unknown>;
  }

  /** Throws the classified error when an `apiResult` says `success: false`. */
  checkApiResult(method: string, result: ApiResult | undefined): void {
    if (!result || result.success === true || result.success === 'true') return;
    const number = result.numberCode === undefined ? '' : String(result.numberCode);
    const code = /^\d{3,}$/.test(number) ? number : `api:${number || '?'}`;
    const detail = [result.englishErrCode, result.chineseErrCode].filter(Boolean).join(' / ');
    throw this.fail(method, { code }, detail || 'apiResult.success is false');
  }

  /** Classifies and builds the error; `override` bypasses the table. */
  fail(
    method: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(JD_ERRORS, facts);
    const what = facts.code ?? String(facts.status ?? 'failed');
    const message = `JOS ${method} -> ${what}: ${c.reason}${detail ? ` (${detail.slice(0, 300)})` : ''}`;
    const cause = Object.assign(new Error(detail ?? what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private log(method: string, status: number | undefined, started: number, code?: string): void {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { api: method, status, ms, code };
    if (code === undefined) this.deps.log.debug(entry, 'jd call');
    else this.deps.log.warn(entry, 'jd call failed');
  }
}
