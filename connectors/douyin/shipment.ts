/**
 * Shipment confirmation (发货回传) with `order.logisticsAdd` [U: method and parameter names from
 * memory of the Doudian docs, not verified]: `order_id` (shop order id), `company_code` (Doudian's
 * carrier code; the {@link ShipmentRef} `carrier` is sent as is) and `logistics_code` (tracking
 * number). Whole-order shipment only; per-line shipping (`order.logisticsAddSinglePack`) is a
 * known gap. One call, no retries.
 */
import { ConnectorError, type ShipmentRef, type ShipmentResult } from '../contract.js';
import type { DoudianClient } from './client.js';

export async function confirmDoudianShipment(client: DoudianClient, s: ShipmentRef): Promise<ShipmentResult> {
  if (!/^\d{1,20}$/.test(s.platformOrderId)) {
    return { ok: false, reason: 'order_not_found', error: `not a Doudian order id: ${s.platformOrderId}` };
  }
  try {
    await client.call('order.logisticsAdd', {
      order_id: s.platformOrderId,
      company_code: s.carrier,
      logistics_code: s.trackingNumber,
    });
    return { ok: true, platformShipmentId: `${s.platformOrderId}:${s.trackingNumber}` };
  } catch (err) {
    if (err instanceof ConnectorError && /order-not-(exist|found)/.test(err.code ?? '')) {
      return { ok: false, reason: 'order_not_found', error: err.message };
    }
    if (err instanceof ConnectorError && err.action === 'ignore') {
      return { ok: false, reason: 'nothing_to_ship', error: err.message };
    }
    throw err;
  }
}
