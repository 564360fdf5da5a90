/**
 * Shipment confirmation (发货回传) through fulfillment orders [S]: read the order's open
 * fulfillment orders (`GET orders/{id}/fulfillment_orders.json`), then create one fulfillment
 * with the tracking info (`POST fulfillments.json`, `line_items_by_fulfillment_order`,
 * `tracking_info {number, company, url}`, `notify_customer`). Two calls, no retries here.
 */
import { ConnectorError, type ShipmentRef, type ShipmentResult } from '../contract.js';
import type { ShopifyClient } from './client.js';

interface FulfillmentOrder {
  id: number | string;
  status?: string;
  line_items?: { id: number | string; line_item_id: number | string; fulfillable_quantity?: number }[];
}

const OPEN = new Set(['open', 'in_progress']);

export async function confirmShopifyShipment(client: ShopifyClient, s: ShipmentRef): Promise<ShipmentResult> {
  if (!/^\d+$/.test(s.platformOrderId)) {
    return { ok: false, reason: 'order_not_found', error: `not a Shopify order id: ${s.platformOrderId}` };
  }
  let fos: FulfillmentOrder[];
  try {
    const res = await client.rest('GET', `orders/${s.platformOrderId}/fulfillment_orders.json`);
    fos = ((res.data as { fulfillment_orders?: FulfillmentOrder[] })?.fulfillment_orders ?? []).filter(
      (fo) => fo.status === undefined || OPEN.has(fo.status),
    );
  } catch (err) {
    if (err instanceof ConnectorError && err.status === 404) {
      return { ok: false, reason: 'order_not_found', error: err.message };
    }
    throw err;
  }

  const groups: {
    fulfillment_order_id: number | string;
    fulfillment_order_line_items?: { id: number | string; quantity: number }[];
  }[] = [];
  if (s.lines === undefined) {
    for (const fo of fos) {
      if ((fo.line_items ?? []).some((li) => (li.fulfillable_quantity ?? 0) > 0))
        groups.push({ fulfillment_order_id: fo.id });
    }
  } else {
    for (const fo of fos) {
      const items: { id: number | string; quantity: number }[] = [];
      for (const li of fo.line_items ?? []) {
        const want = s.lines.find((l) => l.platformLineId === String(li.line_item_id));
        const open = li.fulfillable_quantity ?? 0;
        if (!want || open <= 0) continue;
        items.push({ id: li.id, quantity: Math.min(want.quantity ?? open, open) });
      }
      if (items.length > 0) groups.push({ fulfillment_order_id: fo.id, fulfillment_order_line_items: items });
    }
  }
  if (groups.length === 0)
    return { ok: false, reason: 'nothing_to_ship', error: 'no open fulfillment order line' };

  try {
    const res = await client.rest('POST', 'fulfillments.json', {
      data: {
        fulfillment: {
          line_items_by_fulfillment_order: groups,
          tracking_info: {
            number: s.trackingNumber,
            company: s.carrier,
            ...(s.trackingUrl ? { url: s.trackingUrl } : {}),
          },
          notify_customer: s.notifyCustomer ?? false,
        },
      },
    });
    const fid = (res.data as { fulfillment?: { id?: number | string } })?.fulfillment?.id;
    if (fid === undefined)
      return { ok: false, reason: 'nothing_to_ship', error: 'Shopify returned no fulfillment' };
    return { ok: true, platformShipmentId: String(fid) };
  } catch (err) {
    if (err instanceof ConnectorError && err.action === 'ignore') {
      return { ok: false, reason: 'nothing_to_ship', error: err.message };
    }
    throw err;
  }
}
