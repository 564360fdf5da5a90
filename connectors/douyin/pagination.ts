/**
 * The Doudian incremental pull: cursor and window plan.
 *
 * `order.searchList` (notes §5.2 [V]) filters on `update_time_start`..`update_time_end` (UNIX
 * seconds; both ends treated as inclusive here [U]), sorts by `order_by=update_time` with
 * `order_asc=true`, and pages FORWARD from `page=0` with `size` <= 100. The maximum window is not
 * documented [U]: windows are at most one hour (config), each ending in the past (now - lag).
 *
 * Forward paging over a window whose orders can change while it is read has one hazard: an order
 * modified mid-scan leaves the window (its new `update_time` is after the end, so a later window
 * or pull reads it), and every order behind it moves one place towards page 0 — possibly onto a
 * page already read. The pull therefore compares the `total` of the window's last page with that
 * of its first; when it dropped, it re-reads the window from page 0 (at most twice more), skipping
 * what it already yielded (id + update_time). The watermark moves past a window only once the
 * window was read to its end; a pull stopped at its page bound keeps the watermark at the window
 * start, so the next pull re-reads that window (the upsert absorbs the repeats).
 *
 * The cursor is `{v:1, watermark}`: every change up to `watermark` has been delivered. A pull
 * starts at `watermark - overlapMs`.
 */

export interface PullCursor {
  /** ISO instant: every change up to here has been delivered. */
  watermark: string;
}

export function encodeCursor(c: PullCursor): string {
  return JSON.stringify({ v: 1, watermark: c.watermark });
}

/** Parses a stored cursor; a bare ISO timestamp is accepted as a hand-set watermark. Undefined otherwise. */
export function decodeCursor(s: string): PullCursor | undefined {
  const t = s.trim();
  const iso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (!t.startsWith('{')) return iso(t) ? { watermark: new Date(t).toISOString() } : undefined;
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o.v !== 1 || !iso(o.watermark)) return undefined;
    return { watermark: new Date(o.watermark).toISOString() };
  } catch {
    return undefined;
  }
}

/** Pages needed for `total` results. */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(0, Math.ceil(total / pageSize));
}

/** The windows covering `[from, to]` (epoch ms), each at most `windowMs` long. Pure; bounded. */
export function splitWindows(from: number, to: number, windowMs: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const max = Math.ceil(Math.max(0, to - from) / windowMs) + 1;
  for (let start = from, i = 0; start < to && i < max; i++) {
    const end = Math.min(start + windowMs, to);
    out.push({ start, end });
    start = end;
  }
  return out;
}

/** Floors an instant to whole seconds (Doudian times are UNIX seconds). */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
