/**
 * TOP time: `yyyy-MM-dd HH:mm:ss` in GMT+8 (China has no daylight saving), independent of the
 * machine's time zone. Every instant the connector sends or reads goes through here.
 */

const OFFSET_MS = 8 * 3600_000;
const TOP_TIME_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Formats an instant (epoch ms) as TOP time in GMT+8; milliseconds are dropped. */
export function formatTopTime(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000 + OFFSET_MS);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
  );
}

/** Parses TOP time (GMT+8) to epoch ms; undefined when it is not exactly that form or not a real date. */
export function parseTopTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = TOP_TIME_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return undefined;
  return ms - OFFSET_MS;
}

/** TOP time -> ISO 8601 UTC (`2024-11-11T00:00:05.000Z`), or undefined. */
export function topTimeToIso(text: unknown): string | undefined {
  const ms = parseTopTime(text);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
