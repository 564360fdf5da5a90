/**
 * The TOP incremental pull: cursor and window plan.
 *
 * Why it is shaped this way (notes §3.3 [V]): `taobao.trades.sold.increment.get` takes a
 * `start_modified`..`end_modified` window of at most one day and returns trades sorted by
 * `modified` descending, with the advice to read the pages from the last one backwards. Every
 * window here ends in the past (at the pull's "now"), so a trade modified during the scan leaves
 * the window (its new `modified` is later than the end) and the trades behind it move one place
 * towards page 1. Reading forwards, that shift would push an unread trade onto a page already
 * read (lost); reading backwards it pushes an already-read trade onto the next page to read (read
 * twice, which the pull de-duplicates by `tid` + `modified` and the upsert absorbs).
 *
 * Backward paging needs the number of pages, so each window is probed once with page 1 and
 * `use_has_next` off (`total_results`); if everything fits on that page the probe is the page.
 * A window needing more than `maxPagesPerWindow` pages is halved first (down to one minute).
 *
 * The cursor is `{v:1, watermark}`: everything modified up to `watermark` has been delivered. A
 * fresh pull starts at `watermark - overlapMs`; a window left half-read (page bound or error)
 * is stored as `resume: {start, end, page}` (the next page to read, going down) and continued
 * exactly there, with no overlap.
 */

export interface PullCursor {
  /** ISO instant: every change up to here has been delivered (a fresh pull re-reads the overlap). */
  watermark: string;
  /** A window being read backwards: continue at `page` (then page - 1 ... 1). */
  resume?: { start: string; end: string; page: number };
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
    if (
      !iso(r.start) ||
      !iso(r.end) ||
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
 * The windows covering `[from, to]` (epoch ms, whole seconds), each at most `windowMs` long:
 * what one pull walks through when no window needs halving. Pure; used by the pull and tests.
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

/** Floors an instant to whole seconds (TOP times have one-second precision). */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
