// Durations of the config: "250ms" / "5s" / "2m" / "1h" or an integer of milliseconds → milliseconds.

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const PATTERN = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;

/** Milliseconds, or null when `value` is not a duration. Fractions ("1.5s") are allowed; the result is rounded. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = PATTERN.exec(value);
  if (m === null) return null;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
  return Number.isSafeInteger(ms) ? ms : null;
}
