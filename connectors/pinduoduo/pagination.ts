/**
 * The PDD incremental pull: cursor and window plan.
 *
 * Why it is shaped this way (notes §4.2 [V], the API's own description): one
 * `pdd.order.number.list.increment.get` request covers at most 30 minutes of `updated_at`
 * (`end_updated_at - start_updated_at <= 30min`), and "paging from the last page backwards, with
 * the end time at least 3 minutes before PDD's clock, avoids missing orders". Each window here
 * ends at `now - lagMs` (default 4 minutes). An order updated while a window is being read gets
 * a later `updated_at` and leaves the window, so the orders behind it shift one place towards page
 * 1: reading forwards that shift could push an unread order onto a page already read (lost);
 * reading backwards it pushes an already-read order onto the next page to read (read twice,
 * which the pull de-duplicates by `order_sn` + `updated_at` and the upsert absorbs).
 *
 * Backward paging needs the page count, so each window is probed once with page 1
 * (`total_count`); if everything fits on that page the probe is the page. A window needing more
 * than `maxPagesPerWindow` pages is halved first (down to one minute).
 *
 * The cursor is `{v:1, watermark}`: everything updated up to `watermark` has been delivered. A
 * fresh pull starts at `watermark - overlapMs`; a window left half-read (page bound, abort, error)
 * is stored as `resume: {start, end, page}` (the next page to read, going down) and continued
 * exactly there. The watermark only moves past a window once its page 1 has been yielded.
 */

export interface PullCursor {
  /** ISO instant: every change up to here has been delivered (a fresh pull re-reads the overlap). */
  watermark: string;
  /** A window being read backwards: continue at `page` (then page - 1 … 1). */
  resume?: { start: string; end: string; page: number };
}

export function encodeCursor(c: PullCursor): string {
  return JSON.stringify({ v: 1, ...c });
}

const isIso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * Parses a stored cursor; a bare ISO timestamp is accepted as a watermark set by hand. Undefined
 * for anything else, so the caller fails loudly instead of re-pulling from scratch.
 */
export function decodeCursor(s: string): PullCursor | undefined {
  const t = s.trim();
  if (!t.startsWith('{')) return isIso(t) ? { watermark: new Date(t).toISOString() } : undefined;
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o.v !== 1 || !isIso(o.watermark)) return undefined;
    const r = o.resume as Record<string, unknown> | undefined;
    if (r === undefined) return { watermark: o.watermark };
    if (
      !isIso(r.start) ||
      !isIso(r.end) ||
      typeof r.page !== 'number' ||
      !Number.isInteger(r.page) ||
      r.page < 1
    ) {
      return undefined;
    }
    return { watermark: o.watermark, resume: { start: r.start, end: r.end, page: r.page } };
  } catch {
    return undefined;
  }
}

/** Pages needed for `total` results. */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(0, Math.ceil(total / pageSize));
}

/**
 * The windows covering `[from, to]` (epoch ms), each at most `windowMs` long: what one pull walks
 * through when no window needs halving. Pure; bounded by the span.
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

/** Floors an instant to whole seconds (PDD window bounds are UNIX seconds). */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
