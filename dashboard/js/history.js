/**
 * The history table: newest first, "Load more" through next_cursor, and a type
 * filter that starts over from the newest entry.
 */

import { el } from "./dom.js";
import { formatDateTime, formatSignedCredits } from "./format.js";
import { entryTypeLabel } from "./labels.js";

const PAGE_SIZE = 25;

/**
 * @param {object} parts  the table body, empty-state, load-more button and filter select
 * @param {(q: object) => Promise<{items: object[], next_cursor: string|null}>} fetchHistory
 * @param {(err: Error) => void} onError
 */
export function createHistory({ body, empty, loadMore, filter, region }, fetchHistory, onError) {
  let cursor = null;
  // Each reload bumps the generation, so a slow page for an old filter that
  // arrives after the filter changed is dropped instead of mixed in.
  let generation = 0;

  async function load({ reset }) {
    const mine = reset ? ++generation : generation;
    if (reset) cursor = null;
    region.setAttribute("aria-busy", "true");
    loadMore.disabled = true;
    try {
      const page = await fetchHistory({ limit: PAGE_SIZE, cursor: cursor ?? undefined, type: filter.value || undefined });
      if (mine !== generation) return;
      if (reset) body.replaceChildren();
      body.append(...page.items.map(row));
      cursor = page.next_cursor;
      empty.hidden = body.children.length > 0;
      loadMore.hidden = !cursor;
    } catch (err) {
      if (mine === generation) onError(err);
    } finally {
      if (mine === generation) {
        region.setAttribute("aria-busy", "false");
        loadMore.disabled = false;
      }
    }
  }

  loadMore.addEventListener("click", () => load({ reset: false }));
  filter.addEventListener("change", () => load({ reset: true }));

  return {
    reload: () => load({ reset: true }),
    clear() {
      generation++;
      cursor = null;
      body.replaceChildren();
      empty.hidden = true;
      loadMore.hidden = true;
      filter.value = "";
    },
  };
}

function row(entry) {
  const tone = entry.amount > 0 ? "credit" : entry.amount < 0 ? "debit" : "";
  return el(
    "tr",
    { role: "row", dataset: { testid: "history-row", type: entry.type, entryId: entry.id } },
    cell("date", el("time", { dateTime: entry.created_at }, formatDateTime(entry.created_at))),
    cell("type", entryTypeLabel(entry)),
    cell("description", entry.description || "\u2014"),
    cell(`amount ${tone}`, formatSignedCredits(entry.amount), "history-amount"),
  );
}

// role="cell": see the markup comment on the table (phone layout keeps semantics).
function cell(className, content, testid) {
  return el("td", { role: "cell", className, dataset: testid ? { testid } : undefined }, content);
}
