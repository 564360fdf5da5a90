/**
 * TOP's one error table. Every TOP failure arrives as HTTP 200 with
 * `{"error_response": {"code", "msg", "sub_code", "sub_msg"}}`; the client classifies it with the
 * code `"<code>|<sub_code>"` (e.g. `7|accesscontrol.limited-by-app-access-count`,
 * `15|isv.item-not-exist`, `27|`), so one rule can match the platform code, the sub-code family,
 * or both. Network failures use the axios code, non-200 statuses the status.
 *
 * Sources (README): the platform code list (3-43) and "isp.* = server side, try again later" from
 * developer.alibaba.com "Troubleshooting and Error Codes" (articleId 102707) [V]; `isv.` = caller
 * error from notes §3.8 [S]; the code-7 ban length in `sub_msg` [U]; individual isv sub-codes
 * such as `isv.trade-not-exist` / `isv.sku-not-exist` [U] (matched by family, so a differently
 * worded sub-code still lands on `config_error`).
 */
import type { ErrorTable } from '../contract.js';

/** Builds the code the table matches: `"<code>|<sub_code>"`. */
export function topCode(code: number | string, subCode: string | undefined): string {
  return `${code}|${subCode ?? ''}`;
}

export const TAOBAO_ERRORS: ErrorTable = {
  rules: [
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to TOP',
    },
    // Throttling: 7 = App Call Limited (incl. frequency limits); 4, 5, 6, 8 are the other call limits.
    {
      code: /^(4|5|6|7|8)\|/,
      action: 'rate_limited',
      defaultRetryAfterMs: 5000,
      reason: 'TOP call limit (app/API/session quota or frequency ban)',
    },
    {
      code: /^25\|/,
      action: 'config_error',
      reason: 'TOP says the signature is invalid (25): wrong app secret?',
    },
    { code: /^26\|/, action: 'config_error', reason: 'no session sent (26): the shop is not authorised' },
    { code: /^27\|/, action: 'refresh_token', reason: 'session invalid or expired (27): re-authorise' },
    { code: /^(28|29)\|/, action: 'config_error', reason: 'app key missing or invalid (28/29)' },
    {
      code: /^(30|31)\|/,
      action: 'config_error',
      reason: 'timestamp missing or outside the 10-minute skew (30/31): check the clock',
    },
    {
      code: /^(9|21|22|23|24|32|33|34)\|/,
      action: 'config_error',
      reason: 'request form rejected: connector bug',
    },
    {
      code: /^(11|12|13)\|/,
      action: 'config_error',
      reason: 'missing permission: app, seller or partner (11/12/13)',
    },
    { code: /^10\|/, action: 'retry', reason: 'TOP service unavailable (10)' },
    // Sub-codes: isp.* is TOP's side, isv.* is ours (business or input errors).
    { code: /\|isp\./, action: 'retry', reason: 'TOP server-side error (isp.*)' },
    {
      code: /\|isv\.(trade|refund)-not-exist/,
      action: 'ignore',
      reason: 'trade or refund unknown to TOP',
    },
    {
      code: /\|isv\.(item|sku)-not-exist|\|isv\.item-is-delete|\|isv\.invalid-permission/,
      action: 'config_error',
      reason: 'listing mapping is wrong: item or SKU unknown to this seller',
    },
    {
      code: /\|isv\.logistics-/,
      action: 'ignore',
      reason: 'TOP refused the shipment (already shipped, closed or not shippable)',
    },
    { code: /\|isv\./, action: 'config_error', reason: 'TOP rejected the request (isv.*): fix the input' },
    { code: /^(40|41|42|43)\|/, action: 'config_error', reason: 'missing or invalid arguments (40-43)' },
    { code: /^15\|/, action: 'retry', reason: 'remote service error (15)' },
    {
      status: 429,
      action: 'rate_limited',
      defaultRetryAfterMs: 5000,
      reason: 'TOP gateway (or a proxy before it) throttled us (HTTP 429)',
    },
    { status: [500, 599], action: 'retry', reason: 'TOP gateway error (5xx)' },
    { status: [400, 499], action: 'config_error', reason: 'TOP gateway refused the request (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected TOP failure' },
};

/**
 * The ban length TOP states in a code-7 `sub_msg` ("This ban will last for 23 more seconds"),
 * in ms; undefined when absent.
 */
export function banMs(subMsg: string | undefined): number | undefined {
  if (!subMsg) return undefined;
  const m = /ban will last for (\d{1,7}) more seconds?/i.exec(subMsg);
  return m ? Number(m[1]) * 1000 : undefined;
}
