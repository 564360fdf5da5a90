/**
 * The WooCommerce pull cursor, windows and page rules.
 *
 * Why the pull is shaped this way: `GET /orders` pages by page number (`page`, `per_page` <= 100,
 * `X-WP-Total` / `X-WP-TotalPages`, `Link rel=next`) [V], and the documented `orderby` values do
 * not include the modified date, so a pull asks for `modified_after=<from>&modified_before=<to>&
 * dates_are_gmt=true&orderby=id&order=asc` and reads the window to its last page before the
 * watermark moves to the window's end. `to` is fixed up front and stays `lagMs` behind now, so
 * no order can enter a window while we page through it; one can only leave it (modified again,
 * trashed), which shifts later pages one slot forward and would skip an order. The pull detects
 * that by `X-WP-Total` shrinking between pages and re-reads the window from page 1 (bounded by
 * `maxWindowRestarts`; re-reads are absorbed by the idempotent upsert). Long spans are split
 * into `windowMs` windows so such a restart is cheap. When the page bound stops a pull, the
 * cursor keeps the window, the next page number and the total seen, so the next pull resumes
 * there (and restarts the window if its total shrank meanwhile).
 */

/** The stored pull state. */
export interface PullCursor {
  /** Every change modified before this instant (ISO, UTC) has been delivered. */
  watermark: string;
  resume?: {
    /** The interrupted window: `modified_after` and `modified_before` (ISO). */
    from: string;
    to: string;
    /** The interrupted pull's upper bound (ISO): later windows run up to it. */
    until: string;
    /** Next page number to read. */
    page: number;
    /** `X-WP-Total` of the window when it was last read. */
    total: number;
  };
}

export function encodeCursor(c: PullCursor): string {
  return JSON.stringify({ v: 1, ...c });
}

const isIso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * Parses a stored cursor; a bare ISO timestamp (a watermark set by hand) is accepted too.
 * Undefined for anything else, so the caller fails loudly instead of re-pulling from scratch.
 */
export function decodeCursor(s: string): PullCursor | undefined {
  const t = s.trim();
  if (!t.startsWith('{'))
    return isIso(t) && /(Z|[+-]\d{2}:\d{2})$/.test(t) ? { watermark: new Date(t).toISOString() } : undefined;
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o.v !== 1 || !isIso(o.watermark)) return undefined;
    const r = o.resume as Record<string, unknown> | undefined;
    if (r === undefined) return { watermark: o.watermark };
    if (!isIso(r.from) || !isIso(r.to) || !isIso(r.until)) return undefined;
    if (!Number.isInteger(r.page) || (r.page as number) < 1 || !Number.isInteger(r.total)) return undefined;
    return {
      watermark: o.watermark,
      resume: { from: r.from, to: r.to, until: r.until, page: r.page as number, total: r.total as number },
    };
  } catch {
    return undefined;
  }
}

/** `rel` -> URL for every link in a `Link` header. */
export function parseLinkHeader(value: string | undefined): Map<string, string> {
  const links = new Map<string, string>();
  if (!value) return links;
  for (const m of value.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(m[2] ?? '');
    for (const r of (rel?.[1] ?? rel?.[2] ?? '').trim().split(/\s+/)) {
      if (r && !links.has(r.toLowerCase())) links.set(r.toLowerCase(), m[1] ?? '');
    }
  }
  return links;
}

/** Facts about one list page, from its headers. */
export interface PageFacts {
  /** `X-WP-Total`, when sent. */
  total?: number;
  /** `X-WP-TotalPages`, when sent. */
  totalPages?: number;
  /** Whether there is a page after `page`. */
  hasNext: boolean;
}

/**
 * Whether another page follows. `X-WP-TotalPages` decides when present; otherwise only a
 * `Link` with `rel="next"` does (never the first link: from page 2 on it is `rel="prev"`).
 */
export function pageFacts(headers: Record<string, string>, page: number): PageFacts {
  const int = (v: string | undefined) =>
    v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
  const total = int(headers['x-wp-total']);
  const totalPages = int(headers['x-wp-totalpages']);
  const hasNext = totalPages !== undefined ? page < totalPages : parseLinkHeader(headers.link).has('next');
  return {
    ...(total === undefined ? {} : { total }),
    ...(totalPages === undefined ? {} : { totalPages }),
    hasNext,
  };
}
