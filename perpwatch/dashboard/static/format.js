// Number and time formatting: readable precision, and "—" for what is missing
// (never a made-up value).

export const DASH = "—";

const finite = (x) => typeof x === "number" && Number.isFinite(x);

export function num(x, digits = 2) {
  return finite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : DASH;
}

// Prices: significant digits scale with the magnitude (BTC 90,375.3; PEPE 0.00001234)
export function price(x) {
  if (!finite(x)) return DASH;
  const a = Math.abs(x);
  const digits = a >= 1000 ? 1 : a >= 1 ? 4 : Math.min(10, 2 - Math.floor(Math.log10(a)) + 2);
  return x.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function pct(x, digits = 2) {
  return finite(x) ? `${x.toFixed(digits)}%` : DASH;
}

// A funding rate (a fraction per interval) as a percentage with 4 decimals: 0.0100%
export function rate(x) {
  return finite(x) ? `${(x * 100).toFixed(4)}%` : DASH;
}

export function duration(seconds) {
  if (!finite(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h < 48) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function countdown(targetMs, nowMs) {
  if (!finite(targetMs)) return DASH;
  const left = (targetMs - nowMs) / 1000;
  return left <= 0 ? "due" : duration(left);
}

export function clock(ms) {
  if (!finite(ms)) return DASH;
  return new Date(ms).toISOString().slice(11, 19) + "Z";
}

export function isoMs(iso) {
  if (typeof iso !== "string") return NaN;
  return Date.parse(iso);
}
