// The usage chart's arithmetic: UTC day ranges, filled series, axis steps, bar geometry, feature shares.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addDays,
  barRects,
  eachDay,
  featureRows,
  fillDays,
  lastDays,
  niceScale,
  seriesSummary,
  utcDayKey,
  valueY,
} from "../js/chart-scale.js";

test("day keys are UTC calendar days", () => {
  // 23:30 in New York on Jan 31 is already Feb 1 in UTC.
  assert.equal(utcDayKey(new Date("2026-02-01T04:30:00Z")), "2026-02-01");
  assert.equal(addDays("2026-02-27", 2), "2026-03-01");
  assert.equal(addDays("2028-02-28", 1), "2028-02-29");
  assert.equal(addDays("2026-01-01", -1), "2025-12-31");
  assert.throws(() => addDays("01/02/2026", 1), RangeError);
});

test("the last 30 days end today and start 29 days before", () => {
  assert.deepEqual(lastDays(30, new Date("2026-03-10T12:00:00Z")), { from: "2026-02-09", to: "2026-03-10" });
  assert.deepEqual(lastDays(1, new Date("2026-03-10T00:00:00Z")), { from: "2026-03-10", to: "2026-03-10" });
  assert.throws(() => lastDays(0), RangeError);
});

test("each day of a range is listed once, both ends included", () => {
  assert.deepEqual(eachDay("2026-02-27", "2026-03-02"), ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
  assert.deepEqual(eachDay("2026-03-02", "2026-03-01"), []);
});

test("days without usage are filled with zeros and items outside the range ignored", () => {
  const items = [
    { day: "2026-03-01", feature: null, credits: 40, count: 2 },
    { day: "2026-03-03", feature: null, credits: 5, count: 1 },
    { day: "2026-02-01", feature: null, credits: 999, count: 9 },
  ];
  assert.deepEqual(fillDays(items, "2026-03-01", "2026-03-03"), [
    { day: "2026-03-01", credits: 40, count: 2 },
    { day: "2026-03-02", credits: 0, count: 0 },
    { day: "2026-03-03", credits: 5, count: 1 },
  ]);
  assert.equal(fillDays([], "2026-03-01", "2026-03-30").length, 30);
});

test("the axis top is the lowest 1-2-2.5-5 step multiple at or above the peak", () => {
  assert.deepEqual(niceScale(0), { max: 1, step: 1, ticks: [0, 1] });
  assert.deepEqual(niceScale(3), { max: 3, step: 1, ticks: [0, 1, 2, 3] });
  assert.deepEqual(niceScale(7), { max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
  assert.deepEqual(niceScale(2000), { max: 2000, step: 500, ticks: [0, 500, 1000, 1500, 2000] });
  assert.deepEqual(niceScale(2001), { max: 2500, step: 2500, ticks: [0, 2500] });
  assert.deepEqual(niceScale(2600), { max: 3000, step: 1000, ticks: [0, 1000, 2000, 3000] });
  assert.deepEqual(niceScale(465), { max: 500, step: 250, ticks: [0, 250, 500] });
});

test("every axis has whole-credit ticks, at most the asked number of steps, and covers the peak", () => {
  for (const peak of [1, 2, 9, 10, 11, 99, 101, 1234, 98765, 1_000_000_000]) {
    const { max, step, ticks } = niceScale(peak);
    assert.ok(max >= peak, `${peak}: top ${max}`);
    assert.ok(Number.isInteger(step) && step >= 1, `${peak}: step ${step}`);
    assert.ok(ticks.length - 1 <= 4, `${peak}: ${ticks.length - 1} steps`);
    assert.equal(ticks.at(-1), max);
  }
});

test("bars are proportional to the axis top, zero days get none, small days stay visible", () => {
  const rects = barRects([0, 100, 1, 50], { width: 40, height: 50, max: 100, gap: 2, minHeight: 2 });
  assert.deepEqual(rects.map((r) => r.index), [1, 2, 3]);
  const [big, tiny, half] = rects;
  assert.deepEqual(big, { index: 1, value: 100, x: 11, y: 0, width: 8, height: 50 });
  assert.equal(tiny.height, 2);
  assert.equal(half.height, 25);
  assert.equal(half.y, 25);
  assert.deepEqual(barRects([], { width: 10, height: 10, max: 1 }), []);
});

test("values map onto the axis from the bottom", () => {
  assert.equal(valueY(0, { height: 50, max: 100 }), 50);
  assert.equal(valueY(100, { height: 50, max: 100 }), 0);
  assert.equal(valueY(25, { height: 50, max: 100 }), 37.5);
});

test("feature rows are biggest first, named from the price list, with shares and percents", () => {
  const names = new Map([["image.render", "Image render"]]);
  const rows = featureRows(
    [
      { day: null, feature: null, credits: 25, count: 1 },
      { day: null, feature: "image.render", credits: 75, count: 15 },
      { day: null, feature: "gone.feature", credits: 0, count: 0 },
    ],
    names,
  );
  assert.deepEqual(rows, [
    { feature: "image.render", name: "Image render", credits: 75, count: 15, share: 1, percent: 75 },
    { feature: null, name: "Other spends (no feature)", credits: 25, count: 1, share: 25 / 75, percent: 25 },
  ]);
  assert.deepEqual(featureRows([], names), []);
});

test("a series summary has the total, the count and the peak day", () => {
  const days = [
    { day: "a", credits: 3, count: 1 },
    { day: "b", credits: 9, count: 2 },
    { day: "c", credits: 0, count: 0 },
  ];
  assert.deepEqual(seriesSummary(days), { credits: 12, count: 3, peak: days[1] });
  assert.deepEqual(seriesSummary([{ day: "a", credits: 0, count: 0 }]), { credits: 0, count: 0, peak: null });
});
