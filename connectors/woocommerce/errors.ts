/**
 * WooCommerce's one error table: HTTP statuses, WordPress/WooCommerce REST error `code`s
 * (`{"code":"woocommerce_rest_...","message":"...","data":{"status":401}}`) and network codes,
 * mapped to what the caller should do. Per-item errors of a `/batch` response go through the
 * same table (their `code` plus `data.status`).
 *
 * Sources: the error body shape and `woocommerce_rest_*` codes from the REST API docs and core
 * controllers [V]; 429/503 come from hosts and WAFs, not core (core has no rate limit) [S].
 */
import type { ErrorTable } from '../contract.js';

export const WOO_ERRORS: ErrorTable = {
  rules: [
    {
      code: /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ECONNABORTED|EPIPE|EAI_AGAIN|ENOTFOUND|ERR_NETWORK|ERR_BAD_RESPONSE)$/,
      action: 'retry',
      reason: 'network error talking to the store',
    },
    // Throttling by the host / WAF / a rate-limit plugin.
    { status: 429, action: 'rate_limited', defaultRetryAfterMs: 5000, reason: 'store throttled us (429)' },
    // Credentials: a wrong key or secret, a key without write access, a blocked header.
    {
      code: /^woocommerce_rest_(authentication_error|cannot_view|cannot_create|cannot_edit|cannot_batch|cannot_update)$/,
      action: 'config_error',
      reason: 'consumer key invalid or lacks read_write permission',
    },
    { code: 'rest_forbidden', action: 'config_error', reason: 'REST API forbidden for this key' },
    { status: 401, action: 'config_error', reason: 'consumer key/secret rejected (401)' },
    { status: 403, action: 'config_error', reason: 'forbidden (403): key permission or a security plugin' },
    // Routing: WooCommerce missing, pretty permalinks off, wrong store URL, extension missing.
    {
      code: 'rest_no_route',
      action: 'config_error',
      reason: 'no such REST route: WooCommerce/extension or URL wrong',
    },
    // Unknown resources: per item in a batch, or an order that is gone.
    {
      code: /^woocommerce_rest_(product_invalid_id|invalid_product_id|product_variation_invalid_id|invalid_id|product_invalid_variation_id)$/,
      action: 'config_error',
      reason: 'listing mapping is wrong: the product or variation does not exist',
    },
    { code: /^woocommerce_rest_shop_order_invalid_id$/, action: 'ignore', reason: 'order does not exist' },
    {
      code: /request_entity_too_large$/,
      action: 'config_error',
      reason: 'batch larger than the store allows (woocommerce_rest_batch_items_limit)',
    },
    {
      code: 'rest_invalid_param',
      action: 'config_error',
      reason: 'invalid parameter: connector bug or old WooCommerce',
    },
    { status: 404, action: 'config_error', reason: 'not found (404)' },
    { status: 410, action: 'ignore', reason: 'resource gone (410)' },
    { status: 413, action: 'config_error', reason: 'request too large (413)' },
    // Maintenance mode answers 503 (with Retry-After when the host sets one).
    { status: 503, action: 'retry', reason: 'store unavailable or in maintenance (503)' },
    { status: [500, 599], action: 'retry', reason: 'store server error (5xx)' },
    { status: 400, action: 'config_error', reason: 'bad request (400): connector bug or bad config' },
    { status: [400, 499], action: 'config_error', reason: 'request rejected (4xx)' },
  ],
  fallback: { action: 'retry', reason: 'unexpected WooCommerce failure' },
};
