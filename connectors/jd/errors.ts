/**
 * JOS's one error table. JOS answers gateway and business failures with HTTP 200 and
 * `{"error_response": {"code", "zh_desc", "en_desc"}}` (notes §6.2 [S]); some business APIs
 * answer with their own `apiResult {success: false, numberCode, chineseErrCode}` inside the
 * normal wrapper. The client classifies:
 * - an `error_response` by its `code` as text (`"12"`, `"19"`, `"10400001"`);
 * - an `apiResult` refusal as `api:<numberCode>`;
 * - network failures by the axios code, non-2xx statuses by the status.
 *
 * Sources (README): gateway codes 2, 4, 5, 7, 8, 11, 12, 14, 15 with their meaning from a
 * published copy of the JOS gateway error table (CSDN / diansan "京东API错误码", citing
 * jos.jd.com/commondoc?listId=33) [S], including the 6-minute timestamp tolerance; codes 1, 3,
 * 6, 9, 10, 13, 16-19 and the split "1-2 digits = gateway, longer = business" are [U].
 */
import type { ErrorTable } from '../contract.js';

export const JD_ERRORS: ErrorTable = {
  rules: [
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to JOS',
    },
    { code: '1', action: 'retry', reason: 'JOS service unavailable (1)' },
    {
      code: '2',
      action: 'rate_limited',
      defaultRetryAfterMs: 10_000,
      reason: 'JOS call limit (2, App Call Limited)',
    },
    {
      code: /^(4|5|6)$/,
      action: 'config_error',
      reason: 'API version missing or unsupported (4-6): connector bug',
    },
    {
      code: /^(7|8)$/,
      action: 'config_error',
      reason: 'timestamp missing or outside the 6-minute tolerance (7/8): check the clock',
    },
    { code: /^(9|10)$/, action: 'config_error', reason: 'app key missing or invalid (9/10)' },
    {
      code: /^(11|12)$/,
      action: 'config_error',
      reason: 'signature missing or invalid (11/12): wrong app secret?',
    },
    { code: /^(14|15)$/, action: 'config_error', reason: 'method missing or unknown (14/15): API retired?' },
    { code: '16', action: 'config_error', reason: 'access_token missing (16): the shop is not authorised' },
    {
      code: /^(17|18|19)$/,
      action: 'refresh_token',
      reason: 'access_token invalid or expired (17-19): refresh it',
    },
    {
      code: /^(3|13|2\d)$/,
      action: 'config_error',
      reason: 'request refused by the JOS gateway: check app permissions',
    },
    // Business layer (longer codes, apiResult refusals): the input or the shop state is wrong.
    {
      code: /^\d{3,}$/,
      action: 'config_error',
      reason: 'JD refused the request (business error): fix the input or the listing mapping',
    },
    { code: /^api:/, action: 'retry', reason: 'apiResult.success false without an error code we know' },
    {
      status: 429,
      action: 'rate_limited',
      defaultRetryAfterMs: 10_000,
      reason: 'JOS gateway throttled (429)',
    },
    { status: [500, 599], action: 'retry', reason: 'JOS gateway error (5xx)' },
    { status: [400, 499], action: 'config_error', reason: 'JOS gateway refused the request (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected JOS failure' },
};

/** Codes of the gateway layer (1-2 digits) as opposed to one API's business refusal. */
export function isGatewayCode(code: string | undefined): boolean {
  return code !== undefined && /^\d{1,2}$/.test(code);
}
