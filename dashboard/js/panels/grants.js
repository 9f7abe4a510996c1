/**
 * The grants card: the lots the user's credits are in (GET /credits/grants), in the order they
 * are spent, each with its category, what is left of its amount, priority and expiry ("Never"
 * when it does not expire); a toggle adds used up, expired and voided grants with their status.
 * Hidden when the service has no grants route.
 */

import { byTestId, el } from "../dom.js";
import { formatCredits, formatDate, formatDateTime } from "../format.js";
import { grantCategoryLabel, grantRemainingText, grantSourceLabel, grantStatusLabel } from "../labels.js";
import { createPager } from "../paging.js";

const PAGE_SIZE = 50;

/**
 * @param {HTMLElement} root  the grants card
 * @param {{api: object, run: Function}} deps
 */
export function createGrantsPanel(root, { api, run }) {
  const ui = {
    list: byTestId("grants-list", root),
    empty: byTestId("grants-empty", root),
    more: byTestId("grants-more", root),
    showAll: byTestId("grants-show-all", root),
  };
  const pager = createPager((q) => api.grants(q), { limit: PAGE_SIZE, items: (page) => page.grants });
  let loads = 0;

  async function load(reset) {
    const mine = ++loads;
    root.setAttribute("aria-busy", "true");
    ui.more.disabled = true;
    const showAll = ui.showAll.checked;
    await run(
      () => (reset ? pager.first({ status: showAll ? "all" : "active" }) : pager.next()),
      (result) => {
        if (result.stale) return;
        root.hidden = false;
        if (reset) ui.list.replaceChildren();
        ui.list.append(...result.items.map((grant) => item(grant, showAll)));
        const none = ui.list.children.length === 0;
        ui.empty.hidden = !none;
        ui.empty.textContent = showAll ? "No grants yet. Credits you buy or receive appear here." : "No credits left in any grant.";
        ui.more.hidden = !result.more;
      },
      { missing: () => (root.hidden = true) },
    );
    if (mine !== loads) return;
    root.setAttribute("aria-busy", "false");
    ui.more.disabled = false;
  }

  ui.more.addEventListener("click", () => load(false));
  ui.showAll.addEventListener("change", () => load(true));

  return {
    reload: () => load(true),
    clear() {
      loads++;
      pager.reset();
      root.hidden = true;
      root.setAttribute("aria-busy", "false");
      ui.list.replaceChildren();
      ui.empty.hidden = true;
      ui.more.hidden = true;
      ui.more.disabled = false;
      ui.showAll.checked = false;
    },
  };
}

function item(grant, showStatus) {
  const facts = [
    el("span", { dataset: { testid: "grant-priority" } }, `Priority ${grant.priority}`),
    expiry(grant),
  ];
  if (grant.held > 0) facts.push(el("span", { dataset: { testid: "grant-held" } }, `${formatCredits(grant.held)} held`));
  return el(
    "li",
    {
      className: `grant status-${grant.status}`,
      dataset: { testid: "grant", grantId: grant.grant_id, status: grant.status, category: grant.category },
    },
    el(
      "p",
      { className: "grant-main" },
      el("span", { className: "grant-remaining", dataset: { testid: "grant-remaining" } }, grantRemainingText(grant)),
      el("span", { className: "muted" }, " credits left"),
    ),
    el(
      "p",
      { className: "grant-badges" },
      el("span", { className: `badge badge-${grant.category}`, dataset: { testid: "grant-category" } }, grantCategoryLabel(grant.category)),
      showStatus
        ? el("span", { className: `badge badge-status-${grant.status}`, dataset: { testid: "grant-status" } }, grantStatusLabel(grant.status))
        : null,
    ),
    el("p", { className: "grant-description" }, grant.description || grantSourceLabel(grant.source)),
    el("p", { className: "grant-facts muted small" }, ...facts.flatMap((f, i) => (i ? [" \u00b7 ", f] : [f]))),
  );
}

function expiry(grant) {
  if (!grant.expires_at) return el("span", { dataset: { testid: "grant-expires" } }, "Never expires");
  const past = grant.status === "expired" || new Date(grant.expires_at) <= new Date();
  return el(
    "span",
    { dataset: { testid: "grant-expires" } },
    past ? "Expired " : "Expires ",
    el("time", { dateTime: grant.expires_at, title: formatDateTime(grant.expires_at) }, formatDate(grant.expires_at)),
  );
}
