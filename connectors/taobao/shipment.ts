/**
 * Shipment confirmation (发货回传) with `taobao.logistics.offline.send` [S]: `tid`, `out_sid`
 * (tracking number), `company_code` (TOP's carrier code, e.g. `YTO`, `ZTO`, `SF`: the
 * `carrier` of the {@link ShipmentRef} is sent as is), and for a partial shipment `sub_tid` (the
 * sub-order ids, comma-separated) with `is_split=1`. One call, no retries.
 */
import { ConnectorError, type ShipmentRef, type ShipmentResult } from '../contract.js';
import type { TopClient } from './client.js';

export async function confirmTaobaoShipment(client: TopClient, s: ShipmentRef): Promise<ShipmentResult> {
  if (!/^\d{1,20}$/.test(s.platformOrderId)) {
    return { ok: false, reason: 'order_not_found', error: `not a Taobao tid: ${s.platformOrderId}` };
  }
  const subTids = s.lines?.map((l) => l.platformLineId).filter((id) => /^\d{1,20}$/.test(id)) ?? [];
  try {
    const res = await client.call('taobao.logistics.offline.send', {
      tid: s.platformOrderId,
      out_sid: s.trackingNumber,
      company_code: s.carrier,
      ...(subTids.length > 0 ? { sub_tid: subTids.join(','), is_split: 1 } : {}),
    });
    const shipping = res.shipping as { is_success?: boolean | string } | undefined;
    if (shipping?.is_success === true || shipping?.is_success === 'true') {
      return { ok: true, platformShipmentId: `${s.platformOrderId}:${s.trackingNumber}` };
    }
    return {
      ok: false,
      reason: 'nothing_to_ship',
      error: 'TOP did not confirm the shipment (is_success false)',
    };
  } catch (err) {
    if (err instanceof ConnectorError && /\|isv\.trade-not-exist/.test(err.code ?? '')) {
      return { ok: false, reason: 'order_not_found', error: err.message };
    }
    if (err instanceof ConnectorError && err.action === 'ignore') {
      return { ok: false, reason: 'nothing_to_ship', error: err.message };
    }
    throw err;
  }
}
