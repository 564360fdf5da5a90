/**
 * PDD time. Request times are UNIX seconds (notes §4.1 [V]); order payload times such as
 * `updated_at` and `created_time` are `yyyy-MM-dd HH:mm:ss` in Beijing time, GMT+8 [S] (China has
 * no daylight saving). Nothing here reads the machine's time zone.
 */

const OFFSET_MS = 8 * 3600_000;
const PDD_TIME_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Epoch ms -> UNIX seconds (floored), as the gateway's `timestamp` and window bounds expect. */
export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Parses `yyyy-MM-dd HH:mm:ss` (GMT+8) to epoch ms; undefined unless exactly that and a real date. */
export function parsePddTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = PDD_TIME_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms - OFFSET_MS;
}

/** PDD time (GMT+8) -> ISO 8601 UTC, or undefined. */
export function pddTimeToIso(text: unknown): string | undefined {
  const ms = parsePddTime(text);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
