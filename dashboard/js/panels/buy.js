/**
 * The "Buy credits" card: one button per bundle, opening Stripe Checkout, and the
 * "Save this card for auto-recharge" choice (shown only where the service has settings,
 * i.e. auto-recharge), which sends `save_payment_method: true` with the purchase.
 */

import { newIdempotencyKey } from "../api.js";
import { byTestId, el } from "../dom.js";
import { formatCredits, formatMoney } from "../format.js";

/**
 * @param {HTMLElement} root  the buy card
 * @param {{api: object, run: Function, catalog: object, onError: Function, beforeAction: Function}} deps
 */
export function createBuyPanel(root, { api, run, catalog, onError, beforeAction }) {
  const ui = {
    bundles: byTestId("bundles", root),
    saveChoice: byTestId("save-card-choice", root),
    saveCard: byTestId("save-card", root),
  };

  function bundleItem(bundle) {
    const price = formatMoney(bundle.unit_amount, bundle.currency);
    const credits = formatCredits(bundle.credits);
    const button = el(
      "button",
      {
        type: "button",
        className: "button",
        dataset: { testid: `buy-${bundle.id}` },
        "aria-label": `Buy ${bundle.name}: ${credits} credits for ${price}`,
      },
      "Buy",
    );
    button.addEventListener("click", () => buy(bundle, button));
    return el(
      "li",
      { className: "bundle", dataset: { testid: `bundle-${bundle.id}` } },
      el("p", { className: "bundle-name" }, bundle.name),
      el("p", { className: "bundle-credits" }, `${credits} credits`),
      el("p", { className: "bundle-price", dataset: { testid: `price-${bundle.id}` } }, price),
      button,
    );
  }

  async function buy(bundle, button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Opening checkout\u2026";
    beforeAction();
    try {
      // A fresh key per click: the disabled button already prevents double
      // submits, and a later click is a new intent.
      const savePaymentMethod = !ui.saveChoice.hidden && ui.saveCard.checked;
      const { url } = await api.purchase(bundle.id, newIdempotencyKey(), { savePaymentMethod });
      // Leave the button disabled: the page is navigating away.
      location.assign(url);
    } catch (err) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = "Buy";
      onError(err);
    }
  }

  return {
    async load() {
      ui.bundles.setAttribute("aria-busy", "true");
      await run(
        () => catalog.bundles(),
        (bundles) => ui.bundles.replaceChildren(...bundles.map(bundleItem)),
      );
      ui.bundles.setAttribute("aria-busy", "false");
    },
    /** Whether the service can keep a card for auto-recharge (it has the settings route). */
    setSaveCardAvailable(available) {
      ui.saveChoice.hidden = !available;
      if (!available) ui.saveCard.checked = false;
    },
    clear() {
      ui.bundles.replaceChildren();
      ui.saveChoice.hidden = true;
      ui.saveCard.checked = false;
    },
  };
}
