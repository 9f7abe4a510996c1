/**
 * The auto-recharge card: on/off, the threshold, the bundle to buy, the monthly limit, the saved
 * card, the status and the last failure in words (PUT /credits/settings `auto_recharge`).
 * Checked with settings-validation.js first; `409 payment_method_required` (switching it on
 * without a saved card) is explained, the server's 400 is shown on its field. Hidden when the
 * service has no settings route.
 */

import { ApiError, AuthError } from "../api.js";
import { byTestId, el } from "../dom.js";
import { formatCredits, formatDateTime, formatMoney } from "../format.js";
import { cardText, rechargeCountText, rechargeFailure, rechargeFailureText, rechargeStatusText } from "../labels.js";
import { fieldOfServerError, validateAutoRecharge } from "../settings-validation.js";

export const NEEDS_CARD =
  "Auto-recharge needs a saved card. Buy credits once with \u201cSave this card for auto-recharge\u201d ticked " +
  "(under Buy credits), then switch it on here. Nothing was changed.";
const NO_CARD = "No card saved yet. Tick \u201cSave this card for auto-recharge\u201d when you buy credits.";

/**
 * @param {HTMLElement} root  the auto-recharge card
 * @param {{api: object, onError: Function, onSaved: Function, isCurrent: Function}} deps  as the alerts panel's
 */
export function createRechargePanel(root, { api, onError, onSaved, isCurrent }) {
  const ui = {
    status: byTestId("recharge-status", root),
    failure: byTestId("recharge-failure", root),
    card: byTestId("recharge-card", root),
    form: byTestId("recharge-form", root),
    enabled: byTestId("recharge-enabled", root),
    threshold: byTestId("recharge-threshold", root),
    bundle: byTestId("recharge-bundle", root),
    limit: byTestId("recharge-limit", root),
    count: byTestId("recharge-count", root),
    formError: byTestId("recharge-error", root),
    save: byTestId("save-recharge", root),
    saved: byTestId("recharge-saved", root),
  };
  const fields = {
    threshold: [ui.threshold, byTestId("recharge-threshold-error", root)],
    bundle: [ui.bundle, byTestId("recharge-bundle-error", root)],
    monthly_limit: [ui.limit, byTestId("recharge-limit-error", root)],
  };
  let bundles = [];
  // Set while the person edits the form: a redraw (after the alerts are saved, say) leaves their input alone.
  let dirty = false;

  function clearMessages() {
    for (const [input, error] of Object.values(fields)) {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
    ui.formError.textContent = "";
    ui.saved.textContent = "";
  }

  function showErrors(errors) {
    let first = null;
    for (const [name, message] of Object.entries(errors)) {
      const [input, error] = fields[name];
      error.textContent = message;
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    }
    first?.focus();
  }

  function bundleOptions(selected) {
    const known = bundles.some((b) => b.id === selected);
    const options = bundles.map((b) =>
      el("option", { value: b.id }, `${b.name}: ${formatCredits(b.credits)} credits for ${formatMoney(b.unit_amount, b.currency)}`),
    );
    // A saved bundle that left the catalog is still shown, so saving does not silently switch bundles.
    if (selected && !known) options.push(el("option", { value: selected }, `${selected} (no longer offered)`));
    ui.bundle.replaceChildren(...options);
    ui.bundle.value = selected;
  }

  function render(settings, catalogBundles) {
    const ar = settings.auto_recharge;
    if (!ar) {
      root.hidden = true;
      return;
    }
    root.hidden = false;
    bundles = catalogBundles ?? bundles;
    const bundle = bundles.find((b) => b.id === ar.bundle);
    ui.status.textContent = rechargeStatusText(ar, bundle);
    ui.status.dataset.status = ar.status;
    const failure = rechargeFailure(ar);
    ui.failure.hidden = !failure;
    ui.failure.textContent = failure
      ? rechargeFailureText(failure.reason) + (failure.at ? ` (${formatDateTime(failure.at)})` : "")
      : "";
    ui.card.textContent = cardText(ar.payment_method) ? `Saved card: ${cardText(ar.payment_method)}` : NO_CARD;
    ui.count.textContent = rechargeCountText(ar);
    if (dirty) return;
    ui.enabled.checked = Boolean(ar.enabled);
    ui.threshold.value = String(ar.threshold);
    ui.limit.value = String(ar.monthly_limit);
    bundleOptions(ar.bundle);
  }

  async function save(event) {
    event.preventDefault();
    clearMessages();
    const checked = validateAutoRecharge(
      { enabled: ui.enabled.checked, threshold: ui.threshold.value, bundle: ui.bundle.value, monthlyLimit: ui.limit.value },
      bundles,
    );
    if (!checked.ok) {
      showErrors(checked.errors);
      return;
    }
    const current = isCurrent();
    ui.save.disabled = true;
    try {
      const settings = await api.saveSettings({ auto_recharge: checked.value });
      if (!current()) return;
      dirty = false;
      onSaved(settings);
      ui.saved.textContent = "Auto-recharge saved.";
    } catch (err) {
      if (!current()) return;
      if (err instanceof ApiError && !(err instanceof AuthError) && err.status === 409 && err.code === "payment_method_required") {
        ui.formError.textContent = NEEDS_CARD;
      } else if (err instanceof ApiError && !(err instanceof AuthError) && err.status === 400) {
        const field = fieldOfServerError(err.message);
        if (field && fields[field]) showErrors({ [field]: err.message });
        else ui.formError.textContent = err.message;
      } else {
        onError(err);
      }
    } finally {
      ui.save.disabled = false;
    }
  }

  ui.form.addEventListener("submit", save);
  ui.form.addEventListener("input", () => (dirty = true));
  ui.form.addEventListener("change", () => (dirty = true));

  return {
    render,
    hide() {
      root.hidden = true;
    },
    clear() {
      root.hidden = true;
      dirty = false;
      bundles = [];
      clearMessages();
      ui.form.reset();
      ui.bundle.replaceChildren();
      ui.status.textContent = "";
      ui.failure.hidden = true;
      ui.card.textContent = "";
      ui.count.textContent = "";
      ui.save.disabled = false;
    },
  };
}
