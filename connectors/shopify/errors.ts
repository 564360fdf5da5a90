/**
 * Shopify's one error table: HTTP statuses, GraphQL `extensions.code`s, `userErrors` codes of
 * `inventorySetQuantities` and network error codes, mapped to what the caller should do.
 *
 * Sources (see README): 429 + `Retry-After` and GraphQL `THROTTLED` [V]; 401/402/403/423 and 5xx
 * per Shopify's status-code page [S]; user error codes from the `InventorySetQuantitiesUserErrorCode`
 * enum [V]. Compare-and-set mismatches (`*_QUANTITY_STALE`) are not errors: `pushStock` reports
 * them as `compare_mismatch` before this table is consulted.
 */
import type { ErrorTable } from '../contract.js';

export const SHOPIFY_ERRORS: ErrorTable = {
  rules: [
    // Network failures: no response at all.
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to Shopify',
    },
    // Throttling.
    { status: 429, action: 'rate_limited', defaultRetryAfterMs: 2000, reason: 'Shopify rate limit (429)' },
    { code: 'THROTTLED', action: 'rate_limited', defaultRetryAfterMs: 1000, reason: 'GraphQL cost limit' },
    {
      status: 430,
      action: 'rate_limited',
      defaultRetryAfterMs: 10_000,
      reason: 'Shopify security rejection (430): slow down',
    },
    // Credentials and shop state: stop the shop.
    { status: 401, action: 'config_error', reason: 'access token invalid or revoked (401)' },
    { status: 402, action: 'config_error', reason: 'shop frozen: payment required (402)' },
    { status: 403, action: 'config_error', reason: 'access scope missing (403)' },
    { code: 'ACCESS_DENIED', action: 'config_error', reason: 'access scope missing (ACCESS_DENIED)' },
    { status: 404, action: 'config_error', reason: 'shop, API version or resource not found (404)' },
    { status: 406, action: 'config_error', reason: 'request not acceptable (406)' },
    { status: 423, action: 'config_error', reason: 'shop locked (423)' },
    { code: 'MAX_COST_EXCEEDED', action: 'config_error', reason: 'GraphQL query too expensive' },
    // Nothing to do.
    { status: 422, action: 'ignore', reason: 'Shopify refused the change (422)' },
    // Per-item inventorySetQuantities user errors.
    {
      code: /^(INVALID_INVENTORY_ITEM|INVALID_LOCATION|ITEM_NOT_STOCKED_AT_LOCATION|NON_MUTABLE_INVENTORY_ITEM)$/,
      action: 'config_error',
      reason: 'listing mapping is wrong: item or location unknown to Shopify',
    },
    {
      code: /^(INVALID_QUANTITY_NEGATIVE|INVALID_QUANTITY_TOO_HIGH|INVALID_QUANTITY_TOO_LOW)$/,
      action: 'ignore',
      reason: 'quantity out of Shopify range',
    },
    {
      code: /^(IDEMPOTENCY_CONCURRENT_REQUEST|IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED)$/,
      action: 'retry',
      reason: 'Shopify is still processing an identical request',
    },
    {
      code: /^(INVALID_NAME|INVALID_REASON|INVALID_REFERENCE_DOCUMENT|COMPARE_QUANTITY_REQUIRED|IDEMPOTENCY_KEY_PARAMETER_MISMATCH|NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR)$/,
      action: 'config_error',
      reason: 'stock request rejected: connector configuration or version mismatch',
    },
    { code: 'INTERNAL_SERVER_ERROR', action: 'retry', reason: 'Shopify internal error' },
    // Server side.
    { status: [500, 599], action: 'retry', reason: 'Shopify server error (5xx)' },
    { status: 400, action: 'config_error', reason: 'bad request (400): connector bug or bad config' },
    { status: [400, 499], action: 'config_error', reason: 'request rejected (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected Shopify failure' },
};
