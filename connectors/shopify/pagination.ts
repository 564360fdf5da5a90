/**
 * Shopify REST cursor pagination and the pull cursor.
 *
 * Why the pull is shaped this way: Shopify's order list is not documented to come back sorted by
 * `updated_at` (the `order` parameter is undocumented for orders.json), so "the newest
 * `updated_at` on the page" is not a safe checkpoint after an intermediate page: a later page can
 * still hold older changes. A pull therefore fixes its window up front, `updated_at_min = cursor
 * - overlap` to `updated_at_max = now`, follows only the `rel="next"` link until there is none,
 * and only then moves the watermark to the newest `updated_at` it saw (never past `now`, so a
 * change made while paging is caught by the next pull). If the page bound stops a pull early,
 * the cursor keeps the old watermark plus the `page_info` to resume from, so a backlog larger
 * than one pull still makes progress and no order is skipped.
 */

/** `rel` -> URL for every link in a `Link` header. Unknown or malformed parts are skipped. */
export function parseLinkHeader(value: string | undefined): Map<string, string> {
  const links = new Map<string, string>();
  if (!value) return links;
  const re = /<([^>]*)>((?:\s*;\s*[^;,]*)*)/g;
  for (const m of value.matchAll(re)) {
    const url = m[1] ?? '';
    const params = m[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').trim().split(/\s+/);
    for (const r of rels) if (r && !links.has(r.toLowerCase())) links.set(r.toLowerCase(), url);
  }
  return links;
}

/** The stored pull state: a watermark and, when a pull stopped at its page bound, where to resume. */
export interface PullCursor {
  /** Every change up to this instant (ISO, UTC) has been delivered, minus the overlap. */
  watermark: string;
  resume?: {
    /** `page_info` of the next page of the interrupted pull. */
    pageInfo: string;
    /** The interrupted pull's `updated_at_max` (ISO). */
    until: string;
    /** Newest `updated_at` seen so far in the interrupted pull (ISO), if any. */
    maxSeen?: string;
  };
}

/** Serializes a cursor (versioned JSON). */
export function encodeCursor(c: PullCursor): string {
  return JSON.stringify({ v: 1, ...c });
}

/**
 * Parses a stored cursor. Accepts a bare ISO timestamp too (a watermark set by hand). Returns
 * undefined for anything else so the caller can fail loudly instead of re-pulling from scratch.
 */
export function decodeCursor(s: string): PullCursor | undefined {
  const t = s.trim();
  if (!t.startsWith('{'))
    return Number.isNaN(Date.parse(t)) ? undefined : { watermark: new Date(t).toISOString() };
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o.v !== 1 || typeof o.watermark !== 'string' || Number.isNaN(Date.parse(o.watermark)))
      return undefined;
    const r = o.resume as Record<string, unknown> | undefined;
    if (r === undefined) return { watermark: o.watermark };
    if (typeof r.pageInfo !== 'string' || typeof r.until !== 'string') return undefined;
    return {
      watermark: o.watermark,
      resume: {
        pageInfo: r.pageInfo,
        until: r.until,
        ...(typeof r.maxSeen === 'string' ? { maxSeen: r.maxSeen } : {}),
      },
    };
  } catch {
    return undefined;
  }
}

/** Shopify's documented timestamp form, whole seconds with an offset: `2024-05-01T10:00:00+00:00`. */
export function shopifyTime(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}+00:00`;
}
