/**
 * Checks of the settings forms before anything is sent, mirroring the API's
 * rules for PUT /credits/settings: at most 5 alert thresholds, whole numbers
 * ≥ 0; an auto-recharge threshold ≥ 0, a bundle from the catalog whose credits
 * exceed the threshold, a monthly limit of 1–100.
 *
 * The server stays the judge (it answers 400 with its own message); this only
 * saves a round trip and says which field is wrong in a person's words.
 * Inputs are the strings of the form fields. Pure and unit-tested.
 */

import { formatCredits } from "./format.js";

export const MAX_THRESHOLDS = 5;
// The API's ceiling for any amount of credits.
export const MAX_CREDITS = 1_000_000_000;
export const MONTHLY_LIMIT_MIN = 1;
export const MONTHLY_LIMIT_MAX = 100;

/** "1500" -> 1500; anything that is not plain digits (signs, decimals, "1e3", "") -> null. */
export function parseWholeNumber(text) {
  const s = String(text ?? "").trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * "500, 100" -> {ok: true, value: [500, 100]}: comma- or space-separated, repeated amounts once,
 * highest first. An empty field means no alerts ([]).
 */
export function parseThresholds(text) {
  const parts = String(text ?? "")
    .split(/[\s,;]+/)
    .filter(Boolean);
  const values = [];
  for (const part of parts) {
    const n = parseWholeNumber(part);
    if (n === null) return { ok: false, error: `\u201c${part}\u201d is not a whole number of credits (0 or more).` };
    if (n > MAX_CREDITS) return { ok: false, error: `${formatCredits(n)} is above the limit of ${formatCredits(MAX_CREDITS)} credits.` };
    if (!values.includes(n)) values.push(n);
  }
  if (values.length > MAX_THRESHOLDS) {
    return { ok: false, error: `Enter at most ${MAX_THRESHOLDS} amounts (you entered ${values.length}).` };
  }
  values.sort((a, b) => b - a);
  return { ok: true, value: values };
}

/** [500, 100] -> "500, 100": what the field shows for saved thresholds. */
export function thresholdsText(thresholds) {
  return (thresholds ?? []).join(", ");
}

/**
 * The auto-recharge form -> the `auto_recharge` body to send, or the errors by field
 * (`threshold`, `bundle`, `monthly_limit`).
 *
 * @param {{enabled: boolean, threshold: string, bundle: string, monthlyLimit: string}} form
 * @param {{id: string, name: string, credits: number}[]} bundles  the catalog (GET /credits/bundles)
 */
export function validateAutoRecharge(form, bundles) {
  const errors = {};
  const threshold = parseWholeNumber(form.threshold);
  if (threshold === null) errors.threshold = "Enter a whole number of credits, 0 or more.";
  else if (threshold > MAX_CREDITS) errors.threshold = `Enter at most ${formatCredits(MAX_CREDITS)} credits.`;

  const bundle = (bundles ?? []).find((b) => b.id === form.bundle);
  if (!bundle) errors.bundle = "Choose one of the bundles.";
  else if (threshold !== null && !errors.threshold && !(bundle.credits > threshold)) {
    errors.bundle = `The ${bundle.name} bundle adds ${formatCredits(bundle.credits)} credits, which must be more than ` +
      `the threshold (${formatCredits(threshold)}). Choose a bigger bundle or a lower threshold.`;
  }

  const monthlyLimit = parseWholeNumber(form.monthlyLimit);
  if (monthlyLimit === null || monthlyLimit < MONTHLY_LIMIT_MIN || monthlyLimit > MONTHLY_LIMIT_MAX) {
    errors.monthly_limit = `Enter a whole number from ${MONTHLY_LIMIT_MIN} to ${MONTHLY_LIMIT_MAX}.`;
  }

  if (Object.keys(errors).length) return { ok: false, errors };
  return {
    ok: true,
    value: { enabled: Boolean(form.enabled), threshold, bundle: bundle.id, monthly_limit: monthlyLimit },
  };
}

/**
 * Which form field a server 400 is about, from the field the API names in its message
 * ("auto_recharge.bundle: ..."): "threshold", "bundle", "monthly_limit", "thresholds" or null.
 */
export function fieldOfServerError(message) {
  const m = /\b(?:alerts\.(thresholds)|auto_recharge\.(threshold|bundle|monthly_limit|enabled))\b/.exec(String(message ?? ""));
  if (!m) return null;
  return m[1] ?? (m[2] === "enabled" ? null : m[2]);
}
