/**
 * Shipment confirmation (出库 / 发货回传) with `jingdong.pop.order.shipment` [U]: `order_id`,
 * `logiCoprId` (JD's carrier id; the {@link ShipmentRef} `carrier` is sent as is) and `logiNo`
 * (tracking number). JD ships whole orders only, so `lines` is ignored. The answer's
 * `sopjosshipment_result {success, chineseErrCode, englishErrCode}` [U]: success -> ok; a refusal
 * naming a missing order -> `order_not_found`; any other refusal (already out of stock-out
 * state, cancelled, locked) -> `nothing_to_ship`. One call, no retries.
 */
import type { ShipmentRef, ShipmentResult } from '../contract.js';
import type { ApiResult, JdClient } from './client.js';

export async function confirmJdShipment(client: JdClient, s: ShipmentRef): Promise<ShipmentResult> {
  if (!/^\d{1,20}$/.test(s.platformOrderId)) {
    return { ok: false, reason: 'order_not_found', error: `not a JD orderId: ${s.platformOrderId}` };
  }
  const res = await client.call('jingdong.pop.order.shipment', {
    order_id: s.platformOrderId,
    logiCoprId: s.carrier,
    logiNo: s.trackingNumber,
  });
  const result = res.sopjosshipment_result as ApiResult | undefined;
  if (result?.success === true || result?.success === 'true') {
    return { ok: true, platformShipmentId: `${s.platformOrderId}:${s.trackingNumber}` };
  }
  const why = [result?.englishErrCode, result?.chineseErrCode].filter(Boolean).join(' / ') || 'success false';
  if (/不存在|not exist|not found/i.test(why)) return { ok: false, reason: 'order_not_found', error: why };
  return { ok: false, reason: 'nothing_to_ship', error: why };
}
