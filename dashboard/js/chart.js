/**
 * The "last 30 days" activity chart: credits purchased and used per day,
 * computed in the browser from history pages and drawn as inline SVG.
 *
 * Purchases (thousands) and usage (often single digits) differ by orders of
 * magnitude, so each gets its own row with its own scale and its peak written
 * next to it, instead of one shared axis on which usage would be invisible.
 */

import { el, svg } from "./dom.js";
import { formatCredits, formatShortDay } from "./format.js";

export const CHART_DAYS = 30;
// History is newest first; a heavy user can have thousands of entries a month.
// The chart is a glance, not a report: read a bounded number of pages and say
// so when the window wasn't fully covered.
const PAGE_SIZE = 100;
const MAX_PAGES = 5;

/** Local midnight at the start of `date`. */
function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/**
 * Reads history until it reaches entries older than the window (or the page bound).
 * @param {(q: object) => Promise<{items: object[], next_cursor: string|null}>} fetchHistory
 */
export async function collectActivity(fetchHistory, now = new Date()) {
  const today = startOfDay(now);
  const since = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (CHART_DAYS - 1));
  const days = [];
  const byKey = new Map();
  for (let i = 0; i < CHART_DAYS; i++) {
    const date = new Date(since.getFullYear(), since.getMonth(), since.getDate() + i);
    const day = { date, purchased: 0, used: 0 };
    days.push(day);
    byKey.set(dayKey(date), day);
  }

  let cursor = null;
  let complete = false;
  for (let page = 0; page < MAX_PAGES; page++) {
    const { items, next_cursor } = await fetchHistory({ limit: PAGE_SIZE, cursor });
    for (const entry of items) {
      const day = byKey.get(dayKey(new Date(entry.created_at)));
      if (!day) continue;
      if (entry.type === "purchase" && entry.amount > 0) day.purchased += entry.amount;
      if (entry.type === "usage" && entry.amount < 0) day.used += -entry.amount;
    }
    const oldest = items.at(-1);
    if (!next_cursor || (oldest && new Date(oldest.created_at) < since)) {
      complete = true;
      break;
    }
    cursor = next_cursor;
  }
  return { days, complete };
}

const WIDTH = 300;
const HEIGHT = 48;
const GAP = 2;

function barRow({ days, key, label, verb, testid, className }) {
  const values = days.map((d) => d[key]);
  const peak = Math.max(0, ...values);
  const total = values.reduce((a, b) => a + b, 0);
  const slot = WIDTH / days.length;

  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    class: `bars ${className}`,
    role: "img",
    "aria-label": `${label} per day, last ${days.length} days: ${formatCredits(total)} in total` +
      (peak ? `, at most ${formatCredits(peak)} in a day.` : "."),
    "data-testid": testid,
  });
  chart.append(svg("line", { x1: 0, x2: WIDTH, y1: HEIGHT - 0.5, y2: HEIGHT - 0.5, class: "baseline" }));
  days.forEach((day, i) => {
    const value = day[key];
    if (!value) return;
    // At least 2 units tall so a small day next to a big one still shows.
    const h = Math.max(2, (value / peak) * (HEIGHT - 2));
    const bar = svg("rect", { x: i * slot + GAP / 2, y: HEIGHT - h, width: slot - GAP, height: h, rx: 1 });
    bar.append(svg("title", {}, `${formatShortDay(day.date)}: ${formatCredits(value)} ${verb}`));
    chart.append(bar);
  });

  return el(
    "div",
    { className: "chart-row" },
    el(
      "p",
      { className: "chart-label" },
      el("span", { className: `swatch ${className}`, "aria-hidden": "true" }),
      `${label}: `,
      el("strong", { dataset: { testid: `${testid}-total` } }, formatCredits(total)),
      peak ? el("span", { className: "muted" }, ` (peak ${formatCredits(peak)}/day)`) : null,
    ),
    chart,
  );
}

/** Replaces `container`'s content with the chart for `activity` from collectActivity. */
export function renderActivity(container, { days, complete }) {
  const first = days[0].date;
  const parts = [
    barRow({ days, key: "purchased", label: "Purchased", verb: "purchased", testid: "chart-purchased", className: "purchased" }),
    barRow({ days, key: "used", label: "Used", verb: "used", testid: "chart-used", className: "used" }),
    el(
      "p",
      { className: "chart-axis muted", "aria-hidden": "true" },
      el("span", {}, formatShortDay(first)),
      el("span", {}, "Today"),
    ),
  ];
  if (!complete) parts.push(el("p", { className: "muted small" }, "Showing your most recent activity only."));
  container.replaceChildren(...parts);
}
