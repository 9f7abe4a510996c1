/**
 * Words for what the API says in codes: history entry types, grant categories,
 * sources and statuses, auto-recharge statuses and failure reasons.
 *
 * Pure (no DOM, no fetch) so every label is unit-tested; a code this page does
 * not know yet (the API may add types) is shown as it comes rather than hidden.
 */

import { formatCredits } from "./format.js";

/** Every history entry type the API has, in the order the filter offers them. */
export const ENTRY_TYPES = Object.freeze([
  { type: "purchase", label: "Purchase", filter: "Purchases" },
  { type: "usage", label: "Usage", filter: "Usage" },
  { type: "refund", label: "Refund", filter: "Refunds" },
  { type: "adjustment", label: "Adjustment", filter: "Adjustments" },
  { type: "grant", label: "Grant", filter: "Grants" },
  { type: "expiry", label: "Expired", filter: "Expiries" },
  { type: "void", label: "Voided", filter: "Voids" },
  { type: "restore", label: "Restored", filter: "Restores" },
]);

const ENTRY_LABELS = new Map(ENTRY_TYPES.map((t) => [t.type, t.label]));

/**
 * A purchase made by auto-recharge: its reference is the payment intent (pi_...), where a Checkout
 * purchase's is the session (cs_...). `recharge_id`, when the API adds it, says the same directly.
 */
export function isRecharge(entry) {
  if (entry?.type !== "purchase") return false;
  return Boolean(entry.recharge_id) || /^pi_/.test(entry.reference ?? "");
}

/** An entry (or a bare type) -> its label: "Purchase", "Auto-recharge", "Expired", ... */
export function entryTypeLabel(entry) {
  const type = typeof entry === "string" ? entry : entry?.type;
  if (typeof entry === "object" && isRecharge(entry)) return "Auto-recharge";
  return ENTRY_LABELS.get(type) ?? String(type);
}

/**
 * What a usage entry was for: "Image render × 3". `features` maps feature ids to names (from
 * GET /credits/features); an unknown id is shown as the id. Null for entries without a feature.
 */
export function entryDetail(entry, features = new Map(), opts) {
  if (!entry?.feature) return null;
  const name = features.get(entry.feature) ?? entry.feature;
  const quantity = Number.isInteger(entry.quantity) ? entry.quantity : 1;
  return `${name} \u00d7 ${formatCredits(quantity, opts)}`;
}

/** "credit" for money in, "debit" for money out (CSS classes; the sign carries the meaning too). */
export function amountTone(amount) {
  return amount > 0 ? "credit" : amount < 0 ? "debit" : "";
}

// ------------------------------------------------------------------ grants

const CATEGORIES = { paid: "Paid", promotional: "Promotional" };
const SOURCES = {
  purchase: "Purchase",
  grant: "Grant",
  welcome: "Welcome credits",
  adjustment: "Adjustment",
  migration: "Earlier balance",
};
const GRANT_STATUSES = { active: "Active", depleted: "Used up", expired: "Expired", voided: "Voided" };

export const grantCategoryLabel = (category) => CATEGORIES[category] ?? String(category);
export const grantSourceLabel = (source) => SOURCES[source] ?? String(source);
export const grantStatusLabel = (status) => GRANT_STATUSES[status] ?? String(status);

/** "1,500 of 2,000" — what is left of the grant's amount. */
export function grantRemainingText(grant, opts) {
  return `${formatCredits(grant.remaining, opts)} of ${formatCredits(grant.amount, opts)}`;
}

// ------------------------------------------------------------------ auto-recharge

/**
 * Stripe's decline_code (else its error code) of the last failed recharge, in words a card
 * holder understands. Unknown codes get a general sentence that still names the code.
 */
const FAILURE_REASONS = {
  authentication_required:
    "your bank asked to confirm the payment, which can't be done while you're away. Buy credits once more with " +
    "\u201cSave this card for auto-recharge\u201d ticked, or use another card",
  insufficient_funds: "the card was declined for insufficient funds",
  card_declined: "the card was declined",
  generic_decline: "the card was declined",
  do_not_honor: "the card was declined by your bank",
  expired_card: "the card has expired",
  lost_card: "the card was reported lost",
  stolen_card: "the card was reported stolen",
  incorrect_cvc: "the card's security code was refused",
  processing_error: "the payment could not be processed",
  payment_method_missing: "no saved card was found",
  payment_method_detached: "the saved card was removed",
  resource_missing: "the saved card could not be found",
};

/**
 * The settings' last failure, however the API spells it: `last_failure: {reason, at}` (or a bare
 * reason string), or `last_failure_reason` / `last_failure_at`. Null when there is none.
 */
export function rechargeFailure(autoRecharge) {
  const raw = autoRecharge?.last_failure;
  if (raw && typeof raw === "object") {
    const reason = raw.reason ?? raw.code ?? null;
    return reason ? { reason: String(reason), at: raw.at ?? null } : null;
  }
  const reason = typeof raw === "string" ? raw : autoRecharge?.last_failure_reason;
  return reason ? { reason: String(reason), at: autoRecharge?.last_failure_at ?? null } : null;
}

/** "The last automatic top-up failed: the card has expired." */
export function rechargeFailureText(reason) {
  if (!reason) return null;
  const words = FAILURE_REASONS[reason];
  return words ? `The last automatic top-up failed: ${words}.` : `The last automatic top-up failed (${reason}).`;
}

/**
 * The auto-recharge status in a sentence. `bundle` is the catalog entry of
 * `autoRecharge.bundle` when known ({name, credits}).
 */
export function rechargeStatusText(autoRecharge, bundle, opts) {
  const status = autoRecharge?.status;
  switch (status) {
    case "off":
      return "Auto-recharge is off.";
    case "active": {
      const what = bundle ? `the ${bundle.name} bundle (${formatCredits(bundle.credits, opts)} credits)` : "a bundle";
      return `On: when your available credits fall below ${formatCredits(autoRecharge.threshold, opts)}, ` +
        `${what} is bought with your saved card.`;
    }
    case "needs_payment_method":
      return "Paused: your saved card can't be charged. Buy credits with \u201cSave this card for " +
        "auto-recharge\u201d ticked to save a new one.";
    case "disabled_after_failures":
      return "Paused after 3 failed payments in a row. Save a new card, or save these settings with " +
        "auto-recharge on to try again.";
    default:
      return `Auto-recharge is ${status}.`;
  }
}

/** "2 of 5 automatic top-ups used this month." */
export function rechargeCountText(autoRecharge, opts) {
  const used = autoRecharge?.recharges_this_month ?? 0;
  const limit = autoRecharge?.monthly_limit ?? 0;
  return `${formatCredits(used, opts)} of ${formatCredits(limit, opts)} automatic top-ups used this month.`;
}

/** "Visa •••• 4242"; null when no card is saved. */
export function cardText(paymentMethod) {
  if (!paymentMethod) return null;
  const brand = String(paymentMethod.brand || "Card");
  const name = brand === "amex" ? "American Express" : brand.charAt(0).toUpperCase() + brand.slice(1);
  return `${name} \u2022\u2022\u2022\u2022 ${paymentMethod.last4}`;
}
