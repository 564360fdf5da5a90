/**
 * The JD incremental pull: cursor and window plan.
 *
 * Why it is shaped this way: `jingdong.pop.order.search` (notes §6.2 [S]) takes a
 * `start_date`..`end_date` range of at most one month on the modified time (`dateType=0` [U]),
 * pages forwards with `page` from 1 and `page_size` <= 50, and reports `orderTotal`. JD does
 * not document the sort order [U]. Every window ends in the past (the pull's "now" minus
 * `lagMs`), so an order modified during the scan leaves its window (its new `modified` is after
 * the end) and is read again by a later pull. Paging forwards, such a departure shifts the
 * orders behind it one place towards page 1, and one of them could slip onto a page already
 * read. The pull therefore compares every page's `orderTotal` with the first page's: when it
 * changed, the window is read again from page 1 (at most `maxRescansPerWindow` times; the
 * pull de-duplicates by `orderId` + `modified`, the upsert absorbs the rest).
 *
 * The cursor is `{v:1, watermark}`: every change up to `watermark` has been delivered. A fresh
 * pull starts at `watermark - overlapMs`; a window left part-read (page bound, error) is stored
 * as `resume: {start, end, page, total}` (the next page to read, going up) and continued
 * exactly there, with no overlap. The watermark only moves past a window once its last page has
 * been yielded.
 */

export interface PullCursor {
  /** ISO instant: every change up to here has been delivered (a fresh pull re-reads the overlap). */
  watermark: string;
  /** A window being read forwards: continue at `page`; `total` is the `orderTotal` seen so far. */
  resume?: { start: string; end: string; page: number; total: number };
}

export function encodeCursor(c: PullCursor): string {
  return JSON.stringify({ v: 1, ...c });
}

/**
 * Parses a stored cursor; a bare ISO timestamp is accepted as a watermark set by hand. Undefined
 * for anything else, so the caller fails loudly instead of re-pulling from scratch.
 */
export function decodeCursor(s: string): PullCursor | undefined {
  const t = s.trim();
  const iso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (!t.startsWith('{')) return iso(t) ? { watermark: new Date(t).toISOString() } : undefined;
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o.v !== 1 || !iso(o.watermark)) return undefined;
    const r = o.resume as Record<string, unknown> | undefined;
    if (r === undefined) return { watermark: o.watermark };
    const whole = (v: unknown, min: number): v is number =>
      typeof v === 'number' && Number.isInteger(v) && v >= min;
    if (!iso(r.start) || !iso(r.end) || !whole(r.page, 1) || !whole(r.total, 0)) return undefined;
    return { watermark: o.watermark, resume: { start: r.start, end: r.end, page: r.page, total: r.total } };
  } catch {
    return undefined;
  }
}

/** Pages needed for `total` results (at least one: an empty window is one empty page). */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/**
 * The windows covering `[from, to]` (epoch ms), each at most `windowMs` long: what one pull
 * walks through when no window needs halving. Pure; used by tests and documentation.
 */
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

/** Floors an instant to whole seconds (JOS business dates have one-second precision). */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
