/**
 * JOS time: GMT+8 wall time (China has no daylight saving), independent of the machine's zone.
 * Two forms (notes §6.1 [V], §6.2 [S]): the request `timestamp` the current SDK sends,
 * `yyyy-MM-dd HH:mm:ss.SSS+0800`, and the business dates (`start_date`, `end_date`, order
 * times), `yyyy-MM-dd HH:mm:ss`.
 */

const OFFSET_MS = 8 * 3600_000;
const JD_TIME_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

function parts(ms: number): { date: string; millis: string } {
  const d = new Date(ms + OFFSET_MS);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return {
    date:
      `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
      `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`,
    millis: p(d.getUTCMilliseconds(), 3),
  };
}

/** The request `timestamp`: `yyyy-MM-dd HH:mm:ss.SSS+0800`. */
export function formatJdTimestamp(ms: number): string {
  const { date, millis } = parts(ms);
  return `${date}.${millis}+0800`;
}

/** A business date (`start_date`, `end_date`): `yyyy-MM-dd HH:mm:ss` in GMT+8, milliseconds dropped. */
export function formatJdTime(ms: number): string {
  return parts(Math.floor(ms / 1000) * 1000).date;
}

/** Parses `yyyy-MM-dd HH:mm:ss[.SSS]` (GMT+8) to epoch ms; undefined when malformed or not a real date. */
export function parseJdTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = JD_TIME_RE.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '0').padEnd(3, '0'));
  const at = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(at);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return undefined;
  return at - OFFSET_MS;
}

/** JOS time -> ISO 8601 UTC, or undefined. */
export function jdTimeToIso(text: unknown): string | undefined {
  const ms = parseJdTime(text);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
