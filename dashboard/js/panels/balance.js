/**
 * The balance card: balance, available and held (while a hold exists), the next expiry
 * ("2,000 credits expire on Dec 31, 2026" from the balance's `expiring`) and the debt banner.
 */

import { byTestId } from "../dom.js";
import { formatCredits, formatDateTime, formatExpiring } from "../format.js";

/**
 * @param {HTMLElement} root  the balance card
 * @param {{api: object, run: Function}} deps  `run(work, draw)` drops answers of an ended session
 */
export function createBalancePanel(root, { api, run }) {
  const ui = {
    balance: byTestId("balance", root),
    breakdown: byTestId("balance-breakdown", root),
    available: byTestId("available", root),
    held: byTestId("held", root),
    expiring: byTestId("expiring-note", root),
    updated: byTestId("balance-updated", root),
    debtBanner: byTestId("debt-banner", root),
    debtAmount: byTestId("debt-amount", root),
  };

  function render(b) {
    ui.balance.textContent = formatCredits(b.balance);
    ui.balance.classList.toggle("negative", b.balance < 0);
    // Held and available only mean something to a person while a hold exists.
    ui.breakdown.hidden = !(b.held > 0);
    ui.available.textContent = formatCredits(b.available);
    ui.held.textContent = formatCredits(b.held);
    const expiring = formatExpiring(b.expiring);
    ui.expiring.hidden = !expiring;
    ui.expiring.textContent = expiring ?? "";
    if (expiring) ui.expiring.title = formatDateTime(b.expiring.at);
    else ui.expiring.removeAttribute("title");
    ui.debtBanner.hidden = !(b.available < 0);
    ui.debtAmount.textContent = formatCredits(Math.max(0, -b.available));
    ui.updated.textContent = b.updated_at ? `Updated ${formatDateTime(b.updated_at)}` : "";
  }

  return {
    load: () => run(() => api.balance(), render),
    clear() {
      ui.balance.textContent = "\u2014";
      ui.balance.classList.remove("negative");
      ui.breakdown.hidden = true;
      ui.expiring.hidden = true;
      ui.expiring.textContent = "";
      ui.debtBanner.hidden = true;
      ui.updated.textContent = "";
    },
  };
}
