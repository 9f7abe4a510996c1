/**
 * The usage chart's arithmetic, apart from drawing: the UTC day range asked of
 * GET /credits/usage, a series with every day of it (the API lists only days
 * that had usage), a "nice" value axis, bar geometry and feature shares.
 *
 * Pure and unit-tested; chart drawing (panels/usage.js) only maps these
 * numbers onto SVG.
 */

const DAY_MS = 86_400_000;
const DAY_KEY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Date -> "YYYY-MM-DD" of its UTC calendar day (the usage API's days are UTC days). */
export function utcDayKey(date) {
  return date.toISOString().slice(0, 10);
}

function dayMs(dayKey) {
  const m = DAY_KEY.exec(dayKey);
  if (!m) throw new RangeError(`not a YYYY-MM-DD day: ${dayKey}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

/** "2026-02-27" + 2 -> "2026-03-01". */
export function addDays(dayKey, n) {
  return utcDayKey(new Date(dayMs(dayKey) + n * DAY_MS));
}

/** The last `days` UTC days up to and including today: the `from` and `to` of a usage request. */
export function lastDays(days, now = new Date()) {
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`days must be a positive integer, not ${days}`);
  const to = utcDayKey(now);
  return { from: addDays(to, -(days - 1)), to };
}

/** Every day key from `from` to `to`, both included. */
export function eachDay(from, to) {
  const out = [];
  for (let ms = dayMs(from), end = dayMs(to); ms <= end; ms += DAY_MS) out.push(utcDayKey(new Date(ms)));
  return out;
}

/**
 * Usage items (group_by=day) -> one point per day of the range, zeros where the API listed nothing.
 * Items outside the range are ignored; a day listed twice is summed.
 */
export function fillDays(items, from, to) {
  const days = eachDay(from, to).map((day) => ({ day, credits: 0, count: 0 }));
  const index = new Map(days.map((d, i) => [d.day, i]));
  for (const item of items ?? []) {
    const i = index.get(item.day);
    if (i === undefined) continue;
    days[i].credits += item.credits ?? 0;
    days[i].count += item.count ?? 0;
  }
  return days;
}

/**
 * A value axis for whole credits: a step of 1, 2, 2.5 or 5 × 10^k (whole numbers only) such that at
 * most `maxTicks` steps reach `peak`, choosing the lowest top (then the most ticks). Returns the axis
 * top (a multiple of the step, ≥ peak) and its ticks. An empty chart (peak 0) still gets 0..1.
 */
export function niceScale(peak, maxTicks = 4) {
  const top = Math.max(1, Math.ceil(Number(peak) || 0));
  let best = null;
  for (let magnitude = 1; magnitude <= top * 10; magnitude *= 10) {
    for (const m of [1, 2, 2.5, 5]) {
      const step = m * magnitude;
      if (!Number.isInteger(step)) continue;
      const steps = Math.ceil(top / step);
      if (steps > maxTicks) continue;
      const max = steps * step;
      if (!best || max < best.max || (max === best.max && step < best.step)) best = { max, step };
    }
  }
  const ticks = [];
  for (let v = 0; v <= best.max; v += best.step) ticks.push(v);
  return { ...best, ticks };
}

/**
 * Bar geometry in a `width` × `height` box: one slot per value, a `gap` between bars, heights
 * proportional to `max`. Zero values get no bar; any other value is at least `minHeight` tall so a
 * small day next to a big one still shows.
 */
export function barRects(values, { width, height, max, gap = 2, minHeight = 2 }) {
  if (!values.length) return [];
  const slot = width / values.length;
  const top = max > 0 ? max : Math.max(1, ...values);
  const rects = [];
  values.forEach((value, index) => {
    if (!(value > 0)) return;
    const h = Math.min(height, Math.max(minHeight, (value / top) * height));
    rects.push({ index, value, x: index * slot + gap / 2, y: height - h, width: Math.max(0, slot - gap), height: h });
  });
  return rects;
}

/** y of a value on the axis (0 at the bottom, `max` at the top of a `height` box). */
export function valueY(value, { height, max }) {
  return height - (max > 0 ? (value / max) * height : 0);
}

/**
 * Usage items (group_by=feature) -> rows for horizontal bars, biggest first: `share` is the row's
 * credits over the biggest row's (0..1), `percent` its part of the total (rounded). `names` maps
 * feature ids to names; spends without a feature are one row with `feature: null`.
 */
export function featureRows(items, names = new Map()) {
  const rows = (items ?? [])
    .filter((item) => (item.credits ?? 0) > 0)
    .map((item) => ({
      feature: item.feature ?? null,
      name: item.feature == null ? "Other spends (no feature)" : names.get(item.feature) ?? item.feature,
      credits: item.credits,
      count: item.count ?? 0,
    }))
    .sort((a, b) => b.credits - a.credits || String(a.name).localeCompare(String(b.name)));
  const biggest = rows[0]?.credits ?? 0;
  const total = rows.reduce((sum, r) => sum + r.credits, 0);
  return rows.map((r) => ({ ...r, share: biggest ? r.credits / biggest : 0, percent: total ? Math.round((100 * r.credits) / total) : 0 }));
}

/** Totals of a filled series: credits, count, and the peak day (null when nothing was used). */
export function seriesSummary(days) {
  let credits = 0;
  let count = 0;
  let peak = null;
  for (const d of days) {
    credits += d.credits;
    count += d.count;
    if (d.credits > 0 && (!peak || d.credits > peak.credits)) peak = d;
  }
  return { credits, count, peak };
}
