import type { CanonicalOrder, OrderLine, OrderStatus } from './order.js';

/**
 * When a shop's orders take stock (configurable per shop):
 * - `created` (拍下减库存): as soon as the order exists, unpaid ones included;
 * - `paid` (付款减库存): once it is paid.
 */
export type ReserveOn = 'created' | 'paid';

/**
 * When goods returned after shipment go back into stock:
 * - `receipt` (default): when the platform reports the return received (goodsReturn `received`);
 * - `refund`: as soon as a refund with goods expected back succeeds.
 */
export type RestockOn = 'receipt' | 'refund';

export interface StockPolicy {
  reserveOn: ReserveOn;
  restockOn: RestockOn;
  /**
   * With `reserveOn: created`, how long an unpaid order may hold stock, counted from the
   * platform's creation time (else its modified time). Later it holds nothing until paid, so
   * abandoned carts give their units back. Unset: no expiry.
   */
  unpaidHoldMinutes?: number;
}

/**
 * Where one line's stock should stand, in line units, given the order's current revision.
 * Level, not edge: the same revision always gives the same targets, so applying them is
 * idempotent and the order of deliveries does not matter.
 */
export interface LineStockTarget {
  lineId: string;
  /** Units that should be held (active reservation): sold, not shipped, not cancelled or refunded. */
  hold: number;
  /** Units that left the warehouse (consumed reservations). */
  shipped: number;
  /** Shipped units that came back into stock. */
  restocked: number;
}

const SHIPPED_STATUSES: ReadonlySet<OrderStatus> = new Set(['shipped', 'completed']);

/** Units of `line` the platform shipped: its own count, else all of it once the order shipped. */
export function shippedUnits(line: OrderLine, status: OrderStatus): number {
  if (line.shippedQuantity !== undefined) return line.shippedQuantity;
  return SHIPPED_STATUSES.has(status) ? line.quantity : 0;
}

/**
 * The stock targets of every line:
 * - a cancelled order holds nothing; a `paid`-policy shop holds nothing while payment is pending,
 *   nor a `created`-policy shop once the unpaid hold expired (at `now`);
 * - refunded units without goods coming back free unshipped units first (a refund before
 *   shipment); once everything shipped they change no stock (the buyer keeps the goods);
 * - returned units (goods back, per `restockOn`) restock at most what shipped.
 * Closed (refused, withdrawn) and merely requested refunds change nothing.
 */
export function lineStockTargets(order: CanonicalOrder, policy: StockPolicy, now?: Date): LineStockTarget[] {
  const waiting =
    order.status === 'pending_payment' &&
    (policy.reserveOn === 'paid' || unpaidHoldExpired(order, policy, now));
  return order.lines.map((line) => {
    const shipped = shippedUnits(line, order.status);
    let refundedNoReturn = 0;
    let returned = 0;
    for (const r of order.refunds) {
      if (r.lineId !== line.lineId || r.quantity === 0) continue;
      const back =
        r.goodsReturn === 'received' ||
        (policy.restockOn === 'refund' && r.goodsReturn === 'expected' && r.status === 'succeeded');
      if (back && r.status !== 'closed') returned += r.quantity;
      else if (r.status === 'succeeded' && r.goodsReturn === 'none') refundedNoReturn += r.quantity;
    }
    const unshipped = line.quantity - shipped;
    const hold = order.status === 'cancelled' || waiting ? 0 : Math.max(0, unshipped - refundedNoReturn);
    return { lineId: line.lineId, hold, shipped, restocked: Math.min(returned, shipped) };
  });
}

/** True when an unpaid order has held stock longer than the policy allows at `now`. */
export function unpaidHoldExpired(
  order: CanonicalOrder,
  policy: StockPolicy,
  now: Date | undefined,
): boolean {
  if (policy.unpaidHoldMinutes === undefined || now === undefined) return false;
  const since = order.platformCreatedAt ?? order.platformModifiedAt;
  if (since === undefined) return false;
  return now.getTime() - Date.parse(since) >= policy.unpaidHoldMinutes * 60_000;
}
