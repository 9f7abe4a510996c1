/**
 * The history table: newest first, "Load more" through next_cursor, and a type filter offering
 * every entry type (from labels.js) that starts over from the newest entry. Usage from a
 * feature shows what it was for ("Image render × 3"); recharges read "Auto-recharge".
 */

import { byTestId, el } from "../dom.js";
import { formatDateTime, formatSignedCredits } from "../format.js";
import { ENTRY_TYPES, amountTone, entryDetail, entryTypeLabel } from "../labels.js";
import { createPager } from "../paging.js";

const PAGE_SIZE = 25;

/**
 * @param {HTMLElement} root  the history card
 * @param {{api: object, run: Function, catalog: object}} deps
 */
export function createHistoryPanel(root, { api, run, catalog }) {
  const ui = {
    body: byTestId("history-body", root),
    empty: byTestId("history-empty", root),
    loadMore: byTestId("load-more", root),
    filter: byTestId("type-filter", root),
  };
  ui.filter.append(...ENTRY_TYPES.map((t) => el("option", { value: t.type }, t.filter)));

  const pager = createPager((q) => api.history(q), { limit: PAGE_SIZE });
  // Only the latest load clears the busy state (an older one may finish after a newer one started).
  let loads = 0;

  async function load(reset) {
    const mine = ++loads;
    root.setAttribute("aria-busy", "true");
    ui.loadMore.disabled = true;
    // Feature names are read once per page; history never waits on a failed price list.
    const page = () => (reset ? pager.first({ type: ui.filter.value || undefined }) : pager.next());
    await run(
      () => Promise.all([page(), catalog.featureNames()]),
      ([result, features]) => {
        if (result.stale) return;
        if (reset) ui.body.replaceChildren();
        ui.body.append(...result.items.map((entry) => row(entry, features)));
        ui.empty.hidden = ui.body.children.length > 0;
        ui.loadMore.hidden = !result.more;
      },
    );
    if (mine !== loads) return;
    root.setAttribute("aria-busy", "false");
    ui.loadMore.disabled = false;
  }

  ui.loadMore.addEventListener("click", () => load(false));
  ui.filter.addEventListener("change", () => load(true));

  return {
    reload: () => load(true),
    clear() {
      loads++;
      pager.reset();
      root.setAttribute("aria-busy", "false");
      ui.loadMore.disabled = false;
      ui.body.replaceChildren();
      ui.empty.hidden = true;
      ui.loadMore.hidden = true;
      ui.filter.value = "";
    },
  };
}

function row(entry, features) {
  const detail = entryDetail(entry, features);
  const description = [
    entry.description ? el("span", { className: "entry-description" }, entry.description) : null,
    detail ? el("span", { className: "entry-detail", dataset: { testid: "history-detail" } }, detail) : null,
  ].filter(Boolean);
  return el(
    "tr",
    { role: "row", dataset: { testid: "history-row", type: entry.type, entryId: entry.id } },
    cell("date", [el("time", { dateTime: entry.created_at }, formatDateTime(entry.created_at))]),
    cell("type", [entryTypeLabel(entry)], "history-type"),
    cell("description", description.length ? description : ["\u2014"]),
    cell(`amount ${amountTone(entry.amount)}`, [formatSignedCredits(entry.amount)], "history-amount"),
  );
}

// role="cell": see the markup comment on the table (phone layout keeps semantics).
function cell(className, content, testid) {
  return el("td", { role: "cell", className, dataset: testid ? { testid } : undefined }, ...content);
}
