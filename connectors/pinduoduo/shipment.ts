/**
 * Shipment confirmation (发货) with `pdd.logistics.online.send` [S]: `order_sn`, `logistics_id`
 * (PDD's numeric carrier id from `pdd.logistics.companies.get`: the {@link ShipmentRef} `carrier`
 * as a number, or looked up in the config's `logisticsIds`), `tracking_number`. PDD ships whole
 * orders only (no per-line shipping), so `lines` is ignored. One call, no retries.
 */
import { ConnectorConfigError, ConnectorError, type ShipmentRef, type ShipmentResult } from '../contract.js';
import { isOrderNotFound, ORDER_SN_RE, type PddClient, PLATFORM } from './client.js';
import type { PinduoduoConfig } from './config.js';

export async function confirmPddShipment(
  client: PddClient,
  config: PinduoduoConfig,
  s: ShipmentRef,
): Promise<ShipmentResult> {
  if (!ORDER_SN_RE.test(s.platformOrderId)) {
    return { ok: false, reason: 'order_not_found', error: `not a PDD order_sn: ${s.platformOrderId}` };
  }
  const logisticsId = /^\d{1,10}$/.test(s.carrier) ? Number(s.carrier) : config.logisticsIds[s.carrier];
  if (logisticsId === undefined) {
    throw new ConnectorConfigError(`no PDD logistics_id for carrier ${JSON.stringify(s.carrier)}`, {
      platform: PLATFORM,
      reason: 'carrier missing from the logisticsIds config',
    });
  }
  try {
    const res = await client.call('pdd.logistics.online.send', {
      order_sn: s.platformOrderId,
      logistics_id: logisticsId,
      tracking_number: s.trackingNumber,
    });
    if (res.is_success === true || res.is_success === 'true' || res.is_success === 1) {
      return { ok: true, platformShipmentId: `${s.platformOrderId}:${s.trackingNumber}` };
    }
    return {
      ok: false,
      reason: 'nothing_to_ship',
      error: 'PDD did not confirm the shipment (is_success false)',
    };
  } catch (err) {
    if (isOrderNotFound(err)) return { ok: false, reason: 'order_not_found', error: (err as Error).message };
    // A business refusal (already shipped, cancelled, refunding) is not worth a retry.
    if (err instanceof ConnectorError && err.action === 'ignore') {
      return { ok: false, reason: 'nothing_to_ship', error: err.message };
    }
    throw err;
  }
}
