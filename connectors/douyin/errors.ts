/**
 * Doudian's one error table. Every API failure arrives as HTTP 200 with the envelope
 * `{"code", "msg", "sub_code", "sub_msg", "log_id", "data"}` (code 10000 = OK; older responses
 * use `err_no`, 0 = OK, with `message`). The client classifies it with the code
 * `"<code>|<sub_code>"` (e.g. `30001|isv.access-token-expired`), so one rule can match the
 * platform code, the sub-code family, or both. Network failures use the axios code, non-2xx
 * statuses the status.
 *
 * Sources (README): the envelope and 10000 from notes §5.1 [S]; the individual codes and
 * sub-codes below are [U] (Doudian's public error page was not reachable from here): the table
 * therefore matches sub-code FAMILIES (`isp.` = platform side, `isv.` = caller side, anything
 * with "limit"/"frequency"/"qps" = throttling, "access-token" = token), so a differently worded
 * code still lands on a sensible action.
 */
import type { ErrorTable } from '../contract.js';

/** Builds the code the table matches: `"<code>|<sub_code>"`. */
export function douyinCode(code: number | string, subCode: string | undefined): string {
  return `${code}|${subCode ?? ''}`;
}

export const DOUYIN_ERRORS: ErrorTable = {
  rules: [
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to Doudian',
    },
    {
      status: 429,
      action: 'rate_limited',
      defaultRetryAfterMs: 1000,
      reason: 'Doudian gateway throttled (429)',
    },
    {
      code: /\|.*(limit|frequen|qps|flow-control)/i,
      action: 'rate_limited',
      defaultRetryAfterMs: 1000,
      reason: 'Doudian QPS / frequency limit for this app or API',
    },
    {
      code: /\|isv\.access-token-(expired|no-exist|invalid)/,
      action: 'refresh_token',
      reason: 'access_token expired or invalid: refresh it',
    },
    { code: /^(30001|30005)\|/, action: 'refresh_token', reason: 'access_token rejected (30001/30005)' },
    {
      code: /\|isv\.(sign-invalid|app-key|timestamp)/,
      action: 'config_error',
      reason: 'signature, app key or timestamp refused: wrong app secret or clock?',
    },
    {
      code: /\|isv\.(permission|api-no-permission|shop-)/,
      action: 'config_error',
      reason: 'the app lacks permission for this API or shop',
    },
    { code: /^30002\|/, action: 'config_error', reason: 'permission denied (30002)' },
    {
      code: /\|isv\.business-failed:(order-not-exist|order-not-found)/,
      action: 'ignore',
      reason: 'order unknown to Doudian',
    },
    {
      code: /\|isv\.business-failed:(order-status|already-shipped|logistics-)/,
      action: 'ignore',
      reason: 'Doudian refused the shipment (already shipped, cancelled or not shippable)',
    },
    {
      code: /\|isv\.business-failed:(sku|product)-/,
      action: 'config_error',
      reason: 'listing mapping is wrong: product or SKU unknown to this shop',
    },
    { code: /\|isp\./, action: 'retry', reason: 'Doudian server-side error (isp.*)' },
    {
      code: /\|isv\./,
      action: 'config_error',
      reason: 'Doudian rejected the request (isv.*): fix the input',
    },
    { code: /^(20000|20001)\|/, action: 'retry', reason: 'Doudian service unavailable (20000)' },
    {
      code: /^(40001|40002|40003|40004)\|/,
      action: 'config_error',
      reason: 'request parameters refused (4000x)',
    },
    { code: /^50002\|/, action: 'config_error', reason: 'Doudian business error (50002)' },
    { status: [500, 599], action: 'retry', reason: 'Doudian gateway error (5xx)' },
    { status: [401, 403], action: 'config_error', reason: 'Doudian gateway refused the credentials' },
    { status: [400, 499], action: 'config_error', reason: 'Doudian gateway refused the request (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected Doudian failure' },
};
