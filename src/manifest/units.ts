// Parsers for the quantities manifests write as text: byte sizes ("512M",
// systemd's 1024-based K/M/G/T) and durations ("30s", "1min30s", "500ms").
// They accept exactly what SIZE and DURATION in keys.ts match and return
// undefined for anything else (so callers cannot mis-parse silently).

export const SIZE = /^[1-9][0-9]{0,14}[KMGT]?$/;
export const DURATION = /^(?:[0-9]{1,9}(?:ms|s|min|m|h)){1,4}$/;

const SIZE_FACTOR: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseSize(text: string): number | undefined {
  if (!SIZE.test(text)) return undefined;
  const unit = /[KMGT]$/.test(text) ? text.slice(-1) : '';
  const bytes = Number(unit ? text.slice(0, -1) : text) * (SIZE_FACTOR[unit] ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const DURATION_FACTOR: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, min: 60, h: 3600 };

/** Seconds (may be fractional when ms is used). */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let seconds = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|s|min|m|h)/g)) {
    seconds += Number(m[1]) * (DURATION_FACTOR[m[2] ?? ''] ?? 0);
  }
  return seconds;
}
