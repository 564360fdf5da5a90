/**
 * The WooCommerce REST API v3 client: HTTP Basic with the consumer key/secret (or, for servers
 * that strip `Authorization`, the `consumer_key`/`consumer_secret` query parameters), JSON in and
 * out over the injected axios instance, outbound-call logging without secrets, and every failure
 * turned into a typed {@link ConnectorError} through {@link WOO_ERRORS}. It never retries.
 *
 * Time: WooCommerce reports `*_gmt` fields as `YYYY-MM-DDTHH:MM:SS` without an offset and accepts
 * the same form for `modified_after`/`modified_before` when `dates_are_gmt=true`. {@link wooTime}
 * and {@link parseWooGmt} convert explicitly as UTC so the machine's zone never enters.
 */
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
import type { WooConfig } from './config.js';
import { WOO_ERRORS } from './errors.js';

export const PLATFORM = 'woocommerce';

export interface WooResponse {
  status: number;
  data: unknown;
  /** Response headers, names lower-cased. */
  headers: Record<string, string>;
}

type Params = Record<string, string | number | boolean | readonly (string | number)[]>;

export class WooClient {
  /** `<storeUrl>/wp-json/wc/v3`, no trailing slash. */
  readonly apiBase: string;
  /** `<storeUrl>/wp-json`, for extension namespaces. */
  readonly restRoot: string;
  private readonly basic: string;

  constructor(
    private readonly config: WooConfig,
    private readonly deps: ConnectorDeps,
  ) {
    const root = config.storeUrl.replace(/\/+$/, '');
    this.restRoot = `${root}/wp-json`;
    this.apiBase = `${this.restRoot}/wc/v3`;
    this.basic = `Basic ${Buffer.from(`${config.consumerKey}:${config.consumerSecret}`, 'utf8').toString('base64')}`;
  }

  /**
   * One call. `path` is relative to `wc/v3` (`orders`, `products/batch`) or, starting with `/`,
   * to `wp-json` (`/wc-shipment-tracking/v3/...`). Throws {@link ConnectorError} for non-2xx.
   */
  async request(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    options: { params?: Params; data?: unknown } = {},
  ): Promise<WooResponse> {
    const url = path.startsWith('/') ? `${this.restRoot}${path}` : `${this.apiBase}/${path}`;
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(options.params ?? {})) {
      if (Array.isArray(v)) for (const x of v) query.append(`${k}[]`, String(x));
      else query.append(k, String(v));
    }
    if (this.config.authMode === 'query') {
      query.set('consumer_key', this.config.consumerKey);
      query.set('consumer_secret', this.config.consumerSecret);
    }
    const qs = query.toString();
    const full = qs ? `${url}?${qs}` : url;
    const started = this.deps.clock.now().getTime();
    try {
      const res = await this.deps.http.request({
        method,
        url: full,
        data: options.data,
        headers: {
          Accept: 'application/json',
          ...(this.config.authMode === 'basic' ? { Authorization: this.basic } : {}),
          ...(options.data === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        responseType: 'json',
        validateStatus: () => true,
      });
      const headers = lowerHeaders(res.headers as Record<string, unknown>);
      this.logCall(method, url, res.status, started);
      if (res.status >= 200 && res.status < 300) {
        // axios hands back the raw text when a JSON body does not parse (cut short, a PHP notice
        // before the JSON, a host's HTML page).
        if (typeof res.data === 'string' && res.data.trim() !== '') {
          throw this.fail(method, url, { status: res.status, code: 'BAD_JSON' }, 'response is not JSON', {
            action: 'retry',
            reason: 'the store answered with something that is not JSON',
          });
        }
        return { status: res.status, data: res.data, headers };
      }
      const body = errorBody(res.data);
      throw this.fail(
        method,
        url,
        {
          status: res.status,
          ...(body.code ? { code: body.code } : {}),
          ...retryAfter(headers['retry-after'], this.deps),
        },
        body.message,
      );
    } catch (err) {
      if (isConnectorError(err)) throw err;
      throw this.networkFailure(method, url, started, err);
    }
  }

  private networkFailure(method: string, url: string, started: number, err: unknown): ConnectorError {
    const code = isAxiosError(err) ? (err.code ?? 'ERR_NETWORK') : 'UNKNOWN';
    this.logCall(method, url, undefined, started, code);
    // The axios error holds the request (Authorization header or key in the URL): keep only its
    // message and code.
    const message = err instanceof Error ? err.message : String(err);
    return this.fail(method, url, { code }, message.replaceAll(this.config.consumerSecret, '***'));
  }

  /** Classifies and builds the error; `override` bypasses the table for local refusals. */
  fail(
    method: string,
    url: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(WOO_ERRORS, facts);
    const what = facts.status === undefined ? (facts.code ?? 'failed') : String(facts.status);
    const message = `WooCommerce ${method} ${safePath(url)} -> ${what}${facts.code && facts.status !== undefined ? ` ${facts.code}` : ''}: ${c.reason}${detail ? ` (${detail})` : ''}`;
    const cause = Object.assign(new Error(detail ?? what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private logCall(method: string, url: string, status: number | undefined, started: number, code?: string) {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { method, path: safePath(url), status, ms, code };
    if (status !== undefined && status < 400) this.deps.log.debug(entry, 'woocommerce call');
    else this.deps.log.warn(entry, 'woocommerce call failed');
  }
}

function retryAfter(value: string | undefined, deps: ConnectorDeps): { retryAfterMs?: number } {
  const ms = parseRetryAfter(value, deps.clock);
  return ms === undefined ? {} : { retryAfterMs: ms };
}

export function isConnectorError(err: unknown): err is ConnectorError {
  return err instanceof Error && 'action' in err && 'platform' in err;
}

function lowerHeaders(h: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined || v === null) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Path only: the query may carry the consumer secret (query auth mode). */
function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '?';
  }
}

/** WordPress REST errors: `{"code": "...", "message": "...", "data": {"status": 401}}`. */
export function errorBody(data: unknown): { code?: string; message?: string } {
  if (typeof data !== 'object' || data === null) {
    return typeof data === 'string' && data !== '' ? { message: data.slice(0, 300) } : {};
  }
  const d = data as { code?: unknown; message?: unknown };
  return {
    ...(typeof d.code === 'string' ? { code: d.code } : {}),
    ...(typeof d.message === 'string' ? { message: d.message.slice(0, 300) } : {}),
  };
}

/** `YYYY-MM-DDTHH:MM:SS` in UTC, whole seconds (the form WooCommerce takes with `dates_are_gmt`). */
export function wooTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19);
}

/**
 * Epoch ms of a WooCommerce `*_gmt` timestamp (`2017-03-22T16:28:08`, no offset: UTC by
 * definition). A value with an explicit offset or `Z` is honoured. NaN when unparsable.
 */
export function parseWooGmt(text: string): number {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.test(t)) return Number.NaN;
  return Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(t) ? t : `${t}Z`);
}
