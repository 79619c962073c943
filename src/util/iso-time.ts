// The `time` of a log line: an ISO 8601 UTC timestamp, "2025-01-02T03:04:05.678Z", as
// Date#toISOString writes it, without calling it. V8's toISOString sets up ICU's time zone data
// the first time it runs (~0.9 MB of RSS, measured in the idle proxy; issue 18 §11), which a UTC
// timestamp never needs; the getUTC* fields do not touch it. The part up to the second is made
// once per second, so a burst of access lines costs one string concatenation each.

let second = Number.NaN;
let prefix = '';

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `ms` (integer milliseconds since the epoch, years 0 to 9999) as toISOString writes it. */
export function isoTimestamp(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    const d = new Date(s * 1000);
    const year = d.getUTCFullYear();
    prefix = `${String(year).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.`;
    second = s;
  }
  const milli = ms - s * 1000;
  return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
