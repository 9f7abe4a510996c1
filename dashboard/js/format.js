/**
 * Formatting helpers: credits, money, dates and signed ledger amounts.
 *
 * Everything uses the browser's locale and time zone (Intl) so a person sees
 * their own separators and date order; a caller (the unit tests) may pin both
 * with `{ locale, timeZone }`. Nothing here touches the DOM.
 */

// U+2212 rather than "-": it is the typographic minus and lines up with "+".
export const MINUS = "\u2212";

const cache = new Map();

/** One Intl formatter per kind, options, locale and time zone: building them is the slow part. */
function formatter(Kind, options, { locale, timeZone } = {}) {
  const key = `${Kind.name}|${locale ?? ""}|${timeZone ?? ""}|${JSON.stringify(options)}`;
  let fmt = cache.get(key);
  if (!fmt) {
    fmt = new Kind(locale, timeZone ? { ...options, timeZone } : options);
    cache.set(key, fmt);
  }
  return fmt;
}

const number = (opts) => formatter(Intl.NumberFormat, { maximumFractionDigits: 0 }, opts);

/** 2000 -> "2,000" (en-US); -1500 -> "−1,500", with the same minus as the history. */
export function formatCredits(n, opts) {
  return n < 0 ? `${MINUS}${number(opts).format(-n)}` : number(opts).format(n);
}

/** Signed amount for the ledger: +2,000 / −5. Zero has no sign. */
export function formatSignedCredits(n, opts) {
  if (n > 0) return `+${number(opts).format(n)}`;
  if (n < 0) return `${MINUS}${number(opts).format(-n)}`;
  return number(opts).format(0);
}

/** "1 credit", "2,000 credits", "−1 credit". */
export function creditsPhrase(n, opts) {
  return `${formatCredits(n, opts)} ${Math.abs(n) === 1 ? "credit" : "credits"}`;
}

/**
 * Stripe amounts are in the currency's smallest unit (1990 = $19.90, 500 JPY = ¥500).
 * Intl knows how many minor digits each ISO currency has, which matches Stripe's
 * zero-decimal list for every currency a credits bundle is realistically priced in.
 */
export function formatMoney(unitAmount, currency, opts) {
  const code = String(currency || "").toUpperCase();
  try {
    const fmt = formatter(Intl.NumberFormat, { style: "currency", currency: code }, opts);
    const digits = fmt.resolvedOptions().maximumFractionDigits;
    return fmt.format(unitAmount / 10 ** digits);
  } catch {
    // An unknown currency code must not break the whole bundle list.
    return `${(unitAmount / 100).toFixed(2)} ${code}`;
  }
}

function parse(iso) {
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** ISO 8601 UTC -> local date and time, e.g. "Nov 23, 2025, 10:04 PM". */
export function formatDateTime(iso, opts) {
  const d = parse(iso);
  return d ? formatter(Intl.DateTimeFormat, { dateStyle: "medium", timeStyle: "short" }, opts).format(d) : String(iso);
}

/** ISO 8601 UTC -> local date, e.g. "Nov 23, 2025". */
export function formatDate(iso, opts) {
  const d = parse(iso);
  return d ? formatter(Intl.DateTimeFormat, { dateStyle: "medium" }, opts).format(d) : String(iso);
}

/** Date -> "Nov 23" in the local time zone (or `opts.timeZone`). */
export function formatShortDay(date, opts) {
  return formatter(Intl.DateTimeFormat, { month: "short", day: "numeric" }, opts).format(date);
}

/**
 * "2025-11-23" (a UTC calendar day, as the usage API counts) -> "Nov 23". Formatted in UTC
 * whatever the browser's zone: that day is the same date everywhere, not a moment.
 */
export function formatDayKey(dayKey, opts = {}) {
  const d = parse(`${dayKey}T00:00:00Z`);
  return d ? formatShortDay(d, { ...opts, timeZone: "UTC" }) : String(dayKey);
}

/** The balance's `expiring` -> "2,000 credits expire on Dec 31, 2026" (null when nothing expires). */
export function formatExpiring(expiring, opts) {
  if (!expiring || !(expiring.amount > 0)) return null;
  const verb = expiring.amount === 1 ? "expires" : "expire";
  return `${creditsPhrase(expiring.amount, opts)} ${verb} on ${formatDate(expiring.at, opts)}`;
}
