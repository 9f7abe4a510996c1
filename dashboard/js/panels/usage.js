/**
 * The usage card: credits spent per UTC day, or per feature, over the last 7–365 days, from
 * GET /credits/usage (exact for any volume: the service keeps the totals, the page reads one
 * answer). Drawn as inline SVG from chart-scale.js's numbers. Hidden when the service has no
 * usage route.
 */

import { addDays, barRects, featureRows, fillDays, lastDays, niceScale, seriesSummary, utcDayKey } from "../chart-scale.js";
import { byTestId, el, svg } from "../dom.js";
import { creditsPhrase, formatCredits, formatDayKey } from "../format.js";

const WIDTH = 600;
const HEIGHT = 140;

/**
 * @param {HTMLElement} root  the usage card
 * @param {{api: object, run: Function, catalog: object}} deps
 */
export function createUsagePanel(root, { api, run, catalog }) {
  const ui = {
    byDay: byTestId("usage-by-day", root),
    byFeature: byTestId("usage-by-feature", root),
    range: byTestId("usage-range", root),
    total: byTestId("usage-total", root),
    chart: byTestId("usage-chart", root),
  };
  let loads = 0;

  async function load() {
    const mine = ++loads;
    const days = Number(ui.range.value) || 30;
    const groupBy = ui.byFeature.checked ? "feature" : "day";
    const { from, to } = lastDays(days);
    ui.chart.setAttribute("aria-busy", "true");
    await run(
      () => Promise.all([api.usage({ from, to, group_by: groupBy }), groupBy === "feature" ? catalog.featureNames() : null]),
      ([answer, names]) => {
        if (mine !== loads) return;
        root.hidden = false;
        // The service may have clamped the range; draw what it answered for.
        const range = { from: answer.from ?? from, to: answer.to ?? to, days };
        if (groupBy === "feature") drawFeatures(answer.items ?? [], names, range);
        else drawDays(answer.items ?? [], range);
      },
      { missing: () => (root.hidden = true) },
    );
    if (mine === loads) ui.chart.setAttribute("aria-busy", "false");
  }

  function period(range) {
    return `in the last ${range.days === 1 ? "day" : `${range.days} days`}`;
  }

  function drawDays(items, range) {
    const series = fillDays(items, range.from, range.to);
    const { credits, count, peak } = seriesSummary(series);
    ui.total.replaceChildren(...totalLine(credits, count, period(range)));
    if (!credits) {
      ui.chart.replaceChildren(el("p", { className: "muted", dataset: { testid: "usage-empty" } }, `No usage ${period(range)}.`));
      return;
    }
    const scale = niceScale(peak.credits);
    const plot = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: "none",
      class: "bars used",
      role: "img",
      "aria-label": `Credits used per day ${period(range)}: ${formatCredits(credits)} in total, at most ` +
        `${formatCredits(peak.credits)} on ${formatDayKey(peak.day)}.`,
      "data-testid": "usage-day-bars",
    });
    for (const tick of scale.ticks) {
      const y = HEIGHT - (tick / scale.max) * HEIGHT;
      plot.append(svg("line", { x1: 0, x2: WIDTH, y1: y, y2: y, class: tick ? "grid" : "baseline" }));
    }
    for (const r of barRects(series.map((d) => d.credits), { width: WIDTH, height: HEIGHT, max: scale.max, gap: series.length > 100 ? 0.5 : 2 })) {
      const day = series[r.index];
      const bar = svg("rect", { x: r.x, y: r.y, width: r.width, height: r.height, "data-day": day.day });
      bar.append(svg("title", {}, `${formatDayKey(day.day)}: ${creditsPhrase(day.credits)} (${uses(day.count)})`));
      plot.append(bar);
    }
    const today = utcDayKey(new Date());
    ui.chart.replaceChildren(
      el(
        "div",
        { className: "plot" },
        el("div", { className: "y-axis muted", "aria-hidden": "true" }, ...[...scale.ticks].reverse().map((t) => el("span", {}, formatCredits(t)))),
        plot,
      ),
      el(
        "p",
        { className: "chart-axis muted", "aria-hidden": "true" },
        el("span", {}, formatDayKey(range.from)),
        el("span", {}, formatDayKey(addDays(range.from, Math.floor(series.length / 2)))),
        el("span", {}, range.to === today ? "Today" : formatDayKey(range.to)),
      ),
      daysTable(series),
    );
  }

  function drawFeatures(items, names, range) {
    const rows = featureRows(items, names);
    const credits = rows.reduce((sum, r) => sum + r.credits, 0);
    const count = rows.reduce((sum, r) => sum + r.count, 0);
    ui.total.replaceChildren(...totalLine(credits, count, period(range)));
    if (!rows.length) {
      ui.chart.replaceChildren(el("p", { className: "muted", dataset: { testid: "usage-empty" } }, `No usage ${period(range)}.`));
      return;
    }
    ui.chart.replaceChildren(
      el(
        "ul",
        { className: "feature-bars", "aria-label": `Credits used by feature ${period(range)}` },
        ...rows.map((r) => {
          const bar = svg("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none", class: "bar used", "aria-hidden": "true" });
          bar.append(svg("rect", { x: 0, y: 0, height: 8, width: Math.max(0.5, r.share * 100) }));
          return el(
            "li",
            { className: "feature-row", dataset: { testid: "usage-feature-row", feature: r.feature ?? "" } },
            el("p", { className: "feature-name", dataset: { testid: "usage-feature-name" } }, r.name),
            bar,
            el(
              "p",
              { className: "feature-figures muted small" },
              el("strong", { dataset: { testid: "usage-feature-credits" } }, formatCredits(r.credits)),
              ` credits \u00b7 ${uses(r.count)} \u00b7 ${r.percent}%`,
            ),
          );
        }),
      ),
    );
  }

  ui.range.addEventListener("change", load);
  ui.byDay.addEventListener("change", load);
  ui.byFeature.addEventListener("change", load);

  return {
    load,
    clear() {
      loads++;
      root.hidden = true;
      ui.total.replaceChildren();
      ui.chart.replaceChildren();
      ui.range.value = "30";
      ui.byDay.checked = true;
    },
  };
}

function uses(count) {
  return `${formatCredits(count)} ${count === 1 ? "use" : "uses"}`;
}

function totalLine(credits, count, period) {
  return [
    el("strong", { dataset: { testid: "usage-total-credits" } }, formatCredits(credits)),
    ` ${credits === 1 ? "credit" : "credits"} used ${period}`,
    count ? ` (${uses(count)})` : "",
    ".",
  ];
}

/** The same numbers for screen readers: the days that had usage. */
function daysTable(series) {
  const used = series.filter((d) => d.credits > 0);
  return el(
    "table",
    { className: "visually-hidden" },
    el("caption", {}, "Credits used per day (UTC)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Day"), el("th", { scope: "col" }, "Credits"), el("th", { scope: "col" }, "Uses"))),
    el("tbody", {}, ...used.map((d) => el("tr", {}, el("td", {}, formatDayKey(d.day)), el("td", {}, formatCredits(d.credits)), el("td", {}, formatCredits(d.count))))),
  );
}
