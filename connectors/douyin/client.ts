/**
 * The Doudian open-API client: one signed call over the injected axios instance.
 *
 * Request form (notes §5.1 [V], the official Go SDK): `POST {gateway}/{method with . -> /}` with
 * query `app_key, method, access_token, timestamp (UNIX seconds from the injected clock), v=2,
 * sign_method=hmac-sha256, sign` and the body `param_json`: the business parameters as JSON
 * with keys sorted at every level, no HTML escaping, no whitespace. The sign is lowercase hex
 * HMAC-SHA256(app_secret, app_secret + "app_key"+k + "method"+m + "param_json"+pj +
 * "timestamp"+ts + "v2" + app_secret). Responses are parsed with ids above 2^53 kept exact; every
 * failure becomes a typed {@link ConnectorError} through {@link DOUYIN_ERRORS}. Never retries.
 */
import { createHmac } from 'node:crypto';
import { isAxiosError } from 'axios';
import {
  type Classification,
  type ConnectorDeps,
  type ConnectorError,
  classify,
  connectorError,
  type FailureFacts,
} from '../contract.js';
import type { DouyinConfig } from './config.js';
import { DOUYIN_ERRORS, douyinCode } from './errors.js';

export const PLATFORM = 'douyin';

/** A JSON value as `param_json` holds it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/**
 * `param_json` as the SDK writes it: keys sorted (by UTF-16 code unit, which equals Go's byte
 * order for the ASCII keys Doudian uses) at every level, arrays in order, no whitespace, and no
 * HTML escaping (`JSON.stringify` never escapes `<`, `>`, `&`). Undefined members are dropped;
 * a `bigint` is written as a bare integer (ids above 2^53 that Doudian types as int64).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError('non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The v2 request signature, lowercase hex. */
export function signDoudian(input: {
  appKey: string;
  appSecret: string;
  method: string;
  paramJson: string;
  timestamp: string;
}): string {
  const pattern =
    `app_key${input.appKey}method${input.method}param_json${input.paramJson}` +
    `timestamp${input.timestamp}v2`;
  return createHmac('sha256', input.appSecret)
    .update(`${input.appSecret}${pattern}${input.appSecret}`, 'utf8')
    .digest('hex');
}

/**
 * `JSON.parse` that keeps integers of 16+ digits exact by quoting them first (Doudian sends
 * `product_id`, `sku_id`, `shop_id` as bare numbers above 2^53). String literals are skipped, so
 * digits inside text are never touched.
 */
export function parseDoudianJson(text: string): unknown {
  return JSON.parse(
    text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g, (m) =>
      m.startsWith('"') ? m : `"${m}"`,
    ),
  );
}

/** An id field as text (string, safe integer, or an already-quoted big one); undefined otherwise. */
export function idText(v: unknown): string | undefined {
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return undefined;
}

export class DoudianClient {
  constructor(
    private readonly config: DouyinConfig,
    private readonly deps: ConnectorDeps,
  ) {}

  /**
   * Calls one API (e.g. `order.searchList`) and returns its `data` object. Throws
   * {@link ConnectorError}.
   */
  async call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    return (await this.send(method, params, 'object')) as Record<string, unknown>;
  }

  /** Calls one API whose `data` is an array (e.g. `sku.list`). Throws {@link ConnectorError}. */
  async callList(method: string, params: Record<string, unknown>): Promise<unknown[]> {
    return (await this.send(method, params, 'array')) as unknown[];
  }

  private async send(
    method: string,
    params: Record<string, unknown>,
    shape: 'object' | 'array',
  ): Promise<unknown> {
    const paramJson = canonicalJson(params);
    const timestamp = String(Math.floor(this.deps.clock.now().getTime() / 1000));
    const query = new URLSearchParams({
      app_key: this.config.appKey,
      method,
      access_token: this.config.accessToken,
      timestamp,
      v: '2',
      sign_method: 'hmac-sha256',
      sign: signDoudian({
        appKey: this.config.appKey,
        appSecret: this.config.appSecret,
        method,
        paramJson,
        timestamp,
      }),
    });
    const url = `${this.config.gatewayUrl}/${method.replace(/\./g, '/')}?${query.toString()}`;
    const started = this.deps.clock.now().getTime();
    let status: number;
    let text: string;
    let retryAfter: string | undefined;
    try {
      const res = await this.deps.http.request({
        method: 'POST',
        url,
        data: paramJson,
        headers: { 'Content-Type': 'application/json;charset=utf-8', Accept: 'application/json' },
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
      // The axios error holds the URL (access_token, sign): keep only message and code.
      throw this.fail(method, { code }, err instanceof Error ? err.message : String(err));
    }
    if (status < 200 || status >= 300) {
      this.log(method, status, started);
      const facts: FailureFacts = { status };
      if (retryAfter && /^\d+(\.\d+)?$/.test(retryAfter.trim())) {
        facts.retryAfterMs = Math.ceil(Number(retryAfter.trim()) * 1000);
      }
      throw this.fail(method, facts, text.slice(0, 200));
    }
    let body: Record<string, unknown>;
    try {
      const parsed = parseDoudianJson(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      this.log(method, status, started, 'BAD_JSON');
      throw this.fail(method, { status, code: 'BAD_JSON' }, 'response is not a JSON object', {
        action: 'retry',
        reason: 'Doudian answered with something that is not a JSON object',
      });
    }
    const okNew = body.code === 10000 || body.code === '10000';
    const okOld = body.code === undefined && (body.err_no === 0 || body.err_no === '0');
    if (!okNew && !okOld) {
      const rawCode = body.code ?? body.err_no ?? '?';
      const code = douyinCode(
        typeof rawCode === 'number' || typeof rawCode === 'string' ? rawCode : '?',
        typeof body.sub_code === 'string' ? body.sub_code : undefined,
      );
      this.log(method, status, started, code);
      const detail = [body.msg ?? body.message, body.sub_msg]
        .filter((x) => typeof x === 'string' && x)
        .join(': ');
      throw this.fail(method, { status, code }, detail);
    }
    this.log(method, status, started);
    const data = body.data;
    if (data === undefined || data === null) return shape === 'array' ? [] : {};
    if (typeof data !== 'object' || Array.isArray(data) !== (shape === 'array')) {
      throw this.fail(method, { status, code: 'BAD_DATA' }, `data is not an ${shape}`, {
        action: 'retry',
        reason: `Doudian answered without a data ${shape}`,
      });
    }
    return data;
  }

  /** Classifies and builds the error; `override` bypasses the table. */
  fail(
    method: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(DOUYIN_ERRORS, facts);
    const what = facts.code ?? String(facts.status ?? 'failed');
    const message = `Doudian ${method} -> ${what}: ${c.reason}${detail ? ` (${detail.slice(0, 300)})` : ''}`;
    const cause = Object.assign(new Error(detail || what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private log(method: string, status: number | undefined, started: number, code?: string): void {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { api: method, status, ms, code };
    if (code === undefined) this.deps.log.debug(entry, 'douyin call');
    else this.deps.log.warn(entry, 'douyin call failed');
  }
}
