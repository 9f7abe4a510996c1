/**
 * Formatting helpers: credits, money, dates and signed ledger amounts.
 *
 * Everything uses the browser's locale (Intl) so a person sees their own
 * separators and date order; nothing here touches the DOM.
 */

const credits = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const shortDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

// U+2212 rather than "-": it is the typographic minus and lines up with "+".
const MINUS = "\u2212";

/** 2000 -> "2,000" (en-US); -1500 -> "−1,500", with the same minus as the history. */
export function formatCredits(n) {
  return n < 0 ? `${MINUS}${credits.format(-n)}` : credits.format(n);
}

/** Signed amount for the ledger: +2,000 / −5. Zero has no sign. */
export function formatSignedCredits(n) {
  if (n > 0) return `+${credits.format(n)}`;
  if (n < 0) return `${MINUS}${credits.format(-n)}`;
  return credits.format(0);
}

/**
 * Stripe amounts are in the currency's smallest unit (1990 = $19.90, 500 JPY = ¥500).
 * Intl knows how many minor digits each ISO currency has, which matches Stripe's
 * zero-decimal list for every currency a credits bundle is realistically priced in.
 */
export function formatMoney(unitAmount, currency) {
  const code = String(currency || "").toUpperCase();
  try {
    const fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: code });
    const digits = fmt.resolvedOptions().maximumFractionDigits;
    return fmt.format(unitAmount / 10 ** digits);
  } catch {
    // An unknown currency code must not break the whole bundle list.
    return `${(unitAmount / 100).toFixed(2)} ${code}`;
  }
}

/** ISO 8601 UTC -> local date and time, e.g. "Nov 23, 2025, 10:04 PM". */
export function formatDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTime.format(d);
}

/** Date -> "Nov 23". */
export function formatShortDay(date) {
  return shortDay.format(date);
}

/** Ledger type -> label. Unknown (future) types are shown as they come. */
export function formatEntryType(type) {
  const labels = { purchase: "Purchase", usage: "Usage", refund: "Refund", adjustment: "Adjustment" };
  return labels[type] ?? String(type);
}
