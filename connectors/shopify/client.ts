/**
 * The Shopify Admin API client: REST and GraphQL over the injected axios instance, with the
 * access-token header, the pinned API version, outbound-call logging and every failure turned into
 * a typed {@link ConnectorError} through {@link SHOPIFY_ERRORS}. It never retries: the caller's
 * queue does, as the error's `action` says.
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
import type { ShopifyConfig } from './config.js';
import { SHOPIFY_ERRORS } from './errors.js';

export const PLATFORM = 'shopify';

/** A successful REST response. */
export interface RestResponse {
  status: number;
  data: unknown;
  /** Response headers, names lower-cased. */
  headers: Record<string, string>;
}

/** GraphQL `extensions.cost` as Shopify reports it. */
interface GraphqlCost {
  requestedQueryCost?: number;
  actualQueryCost?: number;
  throttleStatus?: { maximumAvailable?: number; currentlyAvailable?: number; restoreRate?: number };
}

interface GraphqlError {
  message?: string;
  extensions?: { code?: string };
}

export class ShopifyClient {
  /** `https://<shop>/admin/api/<version>`, no trailing slash. */
  readonly apiBase: string;
  /** Origin every followed URL (pagination links) must have. */
  readonly origin: string;

  constructor(
    private readonly config: ShopifyConfig,
    private readonly deps: ConnectorDeps,
  ) {
    const root = (config.baseUrl ?? `https://${config.shopDomain}`).replace(/\/+$/, '');
    this.apiBase = `${root}/admin/api/${config.apiVersion}`;
    this.origin = new URL(root).origin;
  }

  /** Absolute URL of a REST resource path such as `orders.json`. */
  url(path: string): string {
    return `${this.apiBase}/${path.replace(/^\/+/, '')}`;
  }

  /**
   * One REST call. `target` is a path under the API base or an absolute URL already checked to be
   * on {@link origin} (a pagination link). Throws {@link ConnectorError}.
   */
  async rest(
    method: 'GET' | 'POST' | 'PUT',
    target: string,
    options: { params?: Record<string, string | number>; data?: unknown } = {},
  ): Promise<RestResponse> {
    const url = /^https?:\/\//.test(target) ? target : this.url(target);
    if (new URL(url).origin !== this.origin) {
      throw this.fail(method, url, { code: 'FOREIGN_ORIGIN' }, undefined, {
        action: 'config_error',
        reason: 'refused to send the access token to another origin',
      });
    }
    const started = this.deps.clock.now().getTime();
    try {
      const res = await this.deps.http.request({
        method,
        url,
        params: options.params,
        data: options.data,
        headers: {
          'X-Shopify-Access-Token': this.config.accessToken,
          Accept: 'application/json',
          ...(options.data === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        responseType: 'json',
        validateStatus: () => true,
      });
      const headers = lowerHeaders(res.headers as Record<string, unknown>);
      this.logCall(method, url, res.status, started, headers['x-shopify-shop-api-call-limit']);
      if (res.status >= 200 && res.status < 300) {
        // axios hands back the raw text when a JSON body does not parse (cut short, a proxy's page).
        if (typeof res.data === 'string' && res.data.trim() !== '') {
          throw this.fail(method, url, { status: res.status, code: 'BAD_JSON' }, 'response is not JSON', {
            action: 'retry',
            reason: 'Shopify answered with something that is not JSON',
          });
        }
        return { status: res.status, data: res.data, headers };
      }
      throw this.fail(
        method,
        url,
        { status: res.status, retryAfterMs: parseRetryAfter(headers['retry-after'], this.deps.clock) },
        summarizeBody(res.data),
      );
    } catch (err) {
      if (isConnectorError(err)) throw err;
      throw this.networkFailure(method, url, started, err);
    }
  }

  /**
   * One GraphQL call to `graphql.json`. Top-level `errors` (throttling, access) throw; the
   * mutation's own `userErrors` are returned in `data` for the caller to judge per item.
   */
  async graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const res = await this.rest('POST', 'graphql.json', { data: { query, variables } });
    const body = (res.data ?? {}) as {
      data?: T | null;
      errors?: GraphqlError[];
      extensions?: { cost?: GraphqlCost };
    };
    const errors = Array.isArray(body.errors) ? body.errors : [];
    if (errors.length > 0) {
      const first = errors[0] ?? {};
      const throttled = errors.some((e) => e.extensions?.code === 'THROTTLED' || e.message === 'Throttled');
      const code = throttled ? 'THROTTLED' : (first.extensions?.code ?? 'GRAPHQL_ERROR');
      const facts: FailureFacts = { status: res.status, code };
      if (throttled) facts.retryAfterMs = throttleWaitMs(body.extensions?.cost);
      throw this.fail(
        'POST',
        this.url('graphql.json'),
        facts,
        errors.map((e) => e.message ?? '?').join('; '),
      );
    }
    if (body.data === undefined || body.data === null) {
      throw this.fail(
        'POST',
        this.url('graphql.json'),
        { status: res.status, code: 'EMPTY_RESPONSE' },
        'no data',
      );
    }
    return body.data;
  }

  private networkFailure(method: string, url: string, started: number, err: unknown): ConnectorError {
    const code = isAxiosError(err) ? (err.code ?? 'ERR_NETWORK') : 'UNKNOWN';
    this.logCall(method, url, undefined, started, undefined, code);
    // The axios error holds the request config, headers included (the access token): keep only
    // its message and code as the cause.
    const message = err instanceof Error ? err.message : String(err);
    return this.fail(method, url, { code }, message);
  }

  /** Classifies and builds the error; `override` bypasses the table for local refusals. */
  fail(
    method: string,
    url: string,
    facts: FailureFacts,
    detail: string | undefined,
    override?: Classification,
  ): ConnectorError {
    const c = override ?? classify(SHOPIFY_ERRORS, facts);
    const what = facts.status === undefined ? (facts.code ?? 'failed') : String(facts.status);
    const path = safePath(url);
    const message = `Shopify ${method} ${path} -> ${what}${facts.code && facts.status !== undefined ? ` ${facts.code}` : ''}: ${c.reason}${detail ? ` (${detail})` : ''}`;
    const cause = Object.assign(new Error(detail ?? what), { code: facts.code, status: facts.status });
    return connectorError(message, c, { platform: PLATFORM, status: facts.status, code: facts.code, cause });
  }

  private logCall(
    method: string,
    url: string,
    status: number | undefined,
    started: number,
    callLimit: string | undefined,
    code?: string,
  ): void {
    const ms = this.deps.clock.now().getTime() - started;
    const entry = { method, path: safePath(url), status, ms, callLimit, code };
    if (status !== undefined && status < 400) this.deps.log.debug(entry, 'shopify call');
    else this.deps.log.warn(entry, 'shopify call failed');
  }
}

function isConnectorError(err: unknown): err is ConnectorError {
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

/** Path without the query (page_info cursors are long and say nothing to a human). */
function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '?';
  }
}

/** Shopify REST errors: `{"errors": "..."}` or `{"errors": {"field": ["..."]}}`. At most 300 chars. */
function summarizeBody(data: unknown): string | undefined {
  if (data === undefined || data === null || data === '') return undefined;
  let s: string;
  if (typeof data === 'object' && data !== null && 'errors' in data) {
    const e = (data as { errors: unknown }).errors;
    s = typeof e === 'string' ? e : JSON.stringify(e);
  } else s = typeof data === 'string' ? data : JSON.stringify(data);
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

/** How long until the GraphQL bucket holds the requested cost again; undefined if unknown. */
function throttleWaitMs(cost: GraphqlCost | undefined): number | undefined {
  const t = cost?.throttleStatus;
  if (!cost?.requestedQueryCost || !t?.restoreRate || t.currentlyAvailable === undefined) return undefined;
  const missing = Math.max(0, cost.requestedQueryCost - t.currentlyAvailable);
  return Math.max(100, Math.ceil((missing / t.restoreRate) * 1000));
}
