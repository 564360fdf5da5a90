/**
 * Shipment confirmation (发货回传). Core WooCommerce has no shipment object: it has order notes
 * and the `completed` status. Two modes (config `shipmentMode`):
 * - `order_note` (default, core only): `POST orders/{id}/notes` with a customer-visible note
 *   naming carrier and tracking number (`customer_note: notifyCustomer`), then
 *   `PUT orders/{id}` `{status: "completed"}` [V].
 * - `shipment_tracking`: the official Shipment Tracking extension's
 *   `POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings` with
 *   `{custom_tracking_provider, tracking_number, custom_tracking_link, date_shipped}` [S], then
 *   `completed`.
 * The order is read first: unknown -> `order_not_found`; already completed, cancelled, refunded,
 * failed or trashed -> `nothing_to_ship`. Partial shipments (`lines`) are recorded as notes only:
 * core cannot mark part of an order shipped.
 */
import { ConnectorError, type ShipmentRef, type ShipmentResult } from '../contract.js';
import { type WooClient, wooTime } from './client.js';
import type { WooConfig } from './config.js';

const CLOSED = new Set(['completed', 'cancelled', 'refunded', 'failed', 'trash', 'checkout-draft']);

export async function confirmWooShipment(
  client: WooClient,
  config: Pick<WooConfig, 'shipmentMode' | 'completeOnShipment'>,
  now: Date,
  s: ShipmentRef,
): Promise<ShipmentResult> {
  if (!/^\d{1,19}$/.test(s.platformOrderId)) {
    return {
      ok: false,
      reason: 'order_not_found',
      error: `not a WooCommerce order id: ${s.platformOrderId}`,
    };
  }
  let status: string;
  try {
    const res = await client.request('GET', `orders/${s.platformOrderId}`);
    status = String((res.data as { status?: unknown } | null)?.status ?? '');
  } catch (err) {
    if (
      err instanceof ConnectorError &&
      (err.code === 'woocommerce_rest_shop_order_invalid_id' || err.status === 410)
    ) {
      return { ok: false, reason: 'order_not_found', error: err.message };
    }
    throw err;
  }
  if (CLOSED.has(status)) return { ok: false, reason: 'nothing_to_ship', error: `order is ${status}` };

  let shipmentId: string;
  if (config.shipmentMode === 'shipment_tracking') {
    const res = await client.request(
      'POST',
      `/wc-shipment-tracking/v3/orders/${s.platformOrderId}/shipment-trackings`,
      {
        data: {
          custom_tracking_provider: s.carrier,
          tracking_number: s.trackingNumber,
          ...(s.trackingUrl ? { custom_tracking_link: s.trackingUrl } : {}),
          date_shipped: wooTime(now.getTime()).slice(0, 10),
        },
      },
    );
    shipmentId = String((res.data as { tracking_id?: unknown } | null)?.tracking_id ?? s.trackingNumber);
  } else {
    const lines = s.lines?.length
      ? ` (lines ${s.lines.map((l) => `${l.platformLineId}${l.quantity ? ` x${l.quantity}` : ''}`).join(', ')})`
      : '';
    const note = `Shipped with ${s.carrier}, tracking number ${s.trackingNumber}${s.trackingUrl ? ` ${s.trackingUrl}` : ''}${lines}`;
    const res = await client.request('POST', `orders/${s.platformOrderId}/notes`, {
      data: { note, customer_note: s.notifyCustomer ?? false },
    });
    shipmentId = `note-${String((res.data as { id?: unknown } | null)?.id ?? '?')}`;
  }
  if (config.completeOnShipment && !s.lines?.length) {
    await client.request('PUT', `orders/${s.platformOrderId}`, { data: { status: 'completed' } });
  }
  return { ok: true, platformShipmentId: shipmentId };
}
