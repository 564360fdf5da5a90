/**
 * PDD's one error table. Gateway and business failures arrive (usually as HTTP 200) as
 * `{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg", "request_id"}}` (notes
 * §4.5 [S]); the client classifies them with the code `"<error_code>|<sub_code>"` (e.g.
 * `20004|20004`, `70031|`), so one rule can match the platform code, the sub-code, or both.
 * Network failures use the axios code, non-2xx statuses the status.
 *
 * Sources (README): 10000 parameter error, 20004 signature, 50001 business error from notes §4.5
 * [S]; the access-token codes (10019 expired, 10035 no permission), 20005 client id, 20031/20032
 * API not granted, 70031 call frequency, 50000 system error, 52101 goods not found [U] (recalled,
 * not found in a primary source): each rule names its reason so a wrong guess shows in the logs.
 */
import type { ErrorTable } from '../contract.js';

/**
 * Business refusals PDD words only in `error_msg` / `sub_msg` (50001 + Chinese text [U]): tagged so
 * the table (and callers) can tell "the order is gone / already done" from a real input error.
 */
const MESSAGE_TAGS: readonly [RegExp, string][] = [
  [/订单不存在|order not exist/i, 'order_not_found'],
  [/已发货|不允许发货|已取消|already shipped/i, 'not_shippable'],
];

/**
 * Builds the code the table matches: `"<error_code>|<sub_code>"`, plus `"|<tag>"` when the message
 * is one of {@link MESSAGE_TAGS} (e.g. `50001|50001|order_not_found`).
 */
export function pddCode(
  code: number | string,
  subCode: string | number | undefined | null,
  message?: string,
): string {
  const base = `${code}|${subCode ?? ''}`;
  const tag = message ? MESSAGE_TAGS.find(([re]) => re.test(message))?.[1] : undefined;
  return tag ? `${base}|${tag}` : base;
}

export const PINDUODUO_ERRORS: ErrorTable = {
  rules: [
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to the PDD gateway',
    },
    {
      status: 429,
      action: 'rate_limited',
      defaultRetryAfterMs: 2000,
      reason: 'PDD gateway throttled (HTTP 429)',
    },
    {
      code: /^(70031|70032|70033|70034)\|/,
      action: 'rate_limited',
      defaultRetryAfterMs: 2000,
      reason: 'PDD call frequency limit (70031-70034) [U]',
    },
    {
      code: /^20004\|/,
      action: 'config_error',
      reason: 'PDD says the signature is invalid (20004): wrong client secret?',
    },
    { code: /^20005\|/, action: 'config_error', reason: 'client_id unknown or disabled (20005) [U]' },
    {
      code: /^10019\|/,
      action: 'refresh_token',
      reason: 'access_token expired or invalid (10019): refresh it [U]',
    },
    {
      code: /^(10035|20031|20032)\|/,
      action: 'config_error',
      reason: 'the app or shop is not granted this API (10035/20031/20032) [U]',
    },
    {
      code: /^(10001|10002)\|/,
      action: 'config_error',
      reason: 'timestamp outside the 10-minute skew: check the clock [U]',
    },
    {
      code: /^52101\|/,
      action: 'config_error',
      reason: 'listing mapping is wrong: goods or SKU unknown to this shop [U]',
    },
    { code: /\|order_not_found$/, action: 'ignore', reason: 'order unknown to PDD (gone or never existed)' },
    {
      code: /\|not_shippable$/,
      action: 'ignore',
      reason: 'PDD refused the shipment: already shipped, cancelled or in after-sales',
    },
    { code: /^10000\|/, action: 'config_error', reason: 'PDD rejected a parameter (10000): fix the input' },
    {
      code: /^50001\|/,
      action: 'config_error',
      reason: 'PDD business error (50001): the request cannot succeed as sent',
    },
    { code: /^50000\|/, action: 'retry', reason: 'PDD system error (50000) [U]' },
    { status: [500, 599], action: 'retry', reason: 'PDD gateway error (5xx)' },
    { status: [400, 499], action: 'config_error', reason: 'PDD gateway refused the request (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected PDD failure' },
};
