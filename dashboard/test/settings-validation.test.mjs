// The settings forms are checked with the API's own rules before anything is sent.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatCredits } from "../js/format.js";
import {
  MAX_CREDITS,
  fieldOfServerError,
  parseThresholds,
  parseWholeNumber,
  thresholdsText,
  validateAutoRecharge,
} from "../js/settings-validation.js";

const BUNDLES = [
  { id: "starter", name: "Starter", credits: 500 },
  { id: "standard", name: "Standard", credits: 2000 },
];

test("whole numbers are plain digits only", () => {
  assert.equal(parseWholeNumber("1500"), 1500);
  assert.equal(parseWholeNumber(" 0 "), 0);
  for (const bad of ["", " ", "-1", "+1", "1.5", "1e3", "0x10", "12a", "1,000", null, undefined]) {
    assert.equal(parseWholeNumber(bad), null, String(bad));
  }
  assert.equal(parseWholeNumber("99999999999999999999"), null);
});

test("thresholds are comma or space separated, deduplicated and highest first", () => {
  assert.deepEqual(parseThresholds("100, 500"), { ok: true, value: [500, 100] });
  assert.deepEqual(parseThresholds("100 500 100"), { ok: true, value: [500, 100] });
  assert.deepEqual(parseThresholds(" 0 "), { ok: true, value: [0] });
});

test("an empty thresholds field means no alerts", () => {
  assert.deepEqual(parseThresholds(""), { ok: true, value: [] });
  assert.deepEqual(parseThresholds(" , "), { ok: true, value: [] });
});

test("five thresholds are accepted, six are refused", () => {
  assert.deepEqual(parseThresholds("1,2,3,4,5"), { ok: true, value: [5, 4, 3, 2, 1] });
  const six = parseThresholds("1,2,3,4,5,6");
  assert.equal(six.ok, false);
  assert.match(six.error, /at most 5/);
  // Repeats count once.
  assert.equal(parseThresholds("1,2,3,4,5,5").ok, true);
});

test("a negative, fractional or non-numeric threshold is refused, naming it", () => {
  for (const bad of ["-5", "2.5", "lots"]) {
    const result = parseThresholds(`100, ${bad}`);
    assert.equal(result.ok, false, bad);
    assert.ok(result.error.includes(`\u201c${bad}\u201d`), result.error);
  }
  const huge = parseThresholds(String(MAX_CREDITS + 1));
  assert.equal(huge.ok, false);
  assert.match(huge.error, /above the limit/);
});

test("saved thresholds are shown back as text", () => {
  assert.equal(thresholdsText([500, 100]), "500, 100");
  assert.equal(thresholdsText([]), "");
  assert.equal(thresholdsText(undefined), "");
});

const form = (over = {}) => ({ enabled: true, threshold: "200", bundle: "standard", monthlyLimit: "5", ...over });

test("a valid auto-recharge form becomes the API body", () => {
  assert.deepEqual(validateAutoRecharge(form(), BUNDLES), {
    ok: true,
    value: { enabled: true, threshold: 200, bundle: "standard", monthly_limit: 5 },
  });
  assert.equal(validateAutoRecharge(form({ enabled: false, threshold: "0", monthlyLimit: "100" }), BUNDLES).ok, true);
  assert.equal(validateAutoRecharge(form({ monthlyLimit: "1" }), BUNDLES).ok, true);
});

test("the threshold must be a whole number of credits from 0", () => {
  for (const bad of ["", "-1", "1.5", "abc", String(MAX_CREDITS + 1)]) {
    const result = validateAutoRecharge(form({ threshold: bad }), BUNDLES);
    assert.equal(result.ok, false, bad);
    assert.ok(result.errors.threshold, bad);
    assert.equal(result.errors.bundle, undefined, "the bundle is not blamed for a bad threshold");
  }
});

test("the bundle must be in the catalog", () => {
  const result = validateAutoRecharge(form({ bundle: "mega" }), BUNDLES);
  assert.deepEqual(Object.keys(result.errors), ["bundle"]);
});

test("the bundle's credits must exceed the threshold", () => {
  const equal = validateAutoRecharge(form({ bundle: "starter", threshold: "500" }), BUNDLES);
  assert.equal(equal.ok, false);
  assert.ok(equal.errors.bundle.includes("Starter"));
  assert.ok(equal.errors.bundle.includes(formatCredits(500)));
  assert.equal(validateAutoRecharge(form({ bundle: "starter", threshold: "499" }), BUNDLES).ok, true);
});

test("the monthly limit is 1 to 100", () => {
  for (const bad of ["0", "101", "", "2.5", "-3"]) {
    const result = validateAutoRecharge(form({ monthlyLimit: bad }), BUNDLES);
    assert.deepEqual(Object.keys(result.errors), ["monthly_limit"], bad);
  }
});

test("every wrong field is reported at once", () => {
  const result = validateAutoRecharge({ enabled: true, threshold: "x", bundle: "", monthlyLimit: "0" }, BUNDLES);
  assert.deepEqual(Object.keys(result.errors).sort(), ["bundle", "monthly_limit", "threshold"]);
});

test("a server message naming a field points at that field", () => {
  assert.equal(fieldOfServerError("auto_recharge.bundle: bundle 'starter' has 500 credits"), "bundle");
  assert.equal(fieldOfServerError("auto_recharge.monthly_limit: must be at most 100"), "monthly_limit");
  assert.equal(fieldOfServerError("auto_recharge.threshold: too big"), "threshold");
  assert.equal(fieldOfServerError("alerts.thresholds: at most 5 items"), "thresholds");
  assert.equal(fieldOfServerError("auto_recharge.enabled: save a payment method first"), null);
  assert.equal(fieldOfServerError("Something else"), null);
});
