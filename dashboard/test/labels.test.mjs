// Labels for history entries, grants and auto-recharge: every code the API has gets words.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ENTRY_TYPES,
  amountTone,
  cardText,
  entryDetail,
  entryTypeLabel,
  grantCategoryLabel,
  grantRemainingText,
  grantSourceLabel,
  grantStatusLabel,
  isRecharge,
  rechargeCountText,
  rechargeFailure,
  rechargeFailureText,
  rechargeStatusText,
} from "../js/labels.js";

const US = { locale: "en-US" };

test("the filter offers every entry type of the API, each with a label", () => {
  assert.deepEqual(
    ENTRY_TYPES.map((t) => t.type),
    ["purchase", "usage", "refund", "adjustment", "grant", "expiry", "void", "restore"],
  );
  for (const t of ENTRY_TYPES) {
    assert.ok(t.label && t.filter, t.type);
    assert.notEqual(t.label, t.type, `${t.type} needs words, not its code`);
  }
});

test("each entry type reads as a person would say it", () => {
  const labels = Object.fromEntries(ENTRY_TYPES.map((t) => [t.type, entryTypeLabel({ type: t.type, reference: null })]));
  assert.deepEqual(labels, {
    purchase: "Purchase",
    usage: "Usage",
    refund: "Refund",
    adjustment: "Adjustment",
    grant: "Grant",
    expiry: "Expired",
    void: "Voided",
    restore: "Restored",
  });
  assert.equal(entryTypeLabel("expiry"), "Expired");
});

test("a type this page does not know yet is shown as it comes", () => {
  assert.equal(entryTypeLabel({ type: "transfer" }), "transfer");
});

test("a purchase paid by auto-recharge is labelled as such, a Checkout purchase is not", () => {
  const checkout = { type: "purchase", reference: "cs_test_abc" };
  const recharge = { type: "purchase", reference: "pi_123" };
  assert.equal(isRecharge(checkout), false);
  assert.equal(isRecharge(recharge), true);
  assert.equal(isRecharge({ type: "purchase", reference: null, recharge_id: "rc_1" }), true);
  // A refund of a recharge refers to the same intent but is still a refund.
  assert.equal(isRecharge({ type: "refund", reference: "pi_123" }), false);
  assert.equal(entryTypeLabel(recharge), "Auto-recharge");
  assert.equal(entryTypeLabel(checkout), "Purchase");
});

test("usage from a feature shows the feature's name and the quantity", () => {
  const names = new Map([["image.render", "Image render"]]);
  assert.equal(entryDetail({ type: "usage", feature: "image.render", quantity: 3 }, names, US), "Image render \u00d7 3");
  assert.equal(entryDetail({ type: "usage", feature: "image.render", quantity: 12000 }, names, US), "Image render \u00d7 12,000");
  // Not in the price list (any more): its id.
  assert.equal(entryDetail({ type: "usage", feature: "video.encode", quantity: 1 }, names, US), "video.encode \u00d7 1");
  assert.equal(entryDetail({ type: "usage", amount: -5 }, names, US), null);
});

test("amount tone follows the sign", () => {
  assert.equal(amountTone(5), "credit");
  assert.equal(amountTone(-5), "debit");
  assert.equal(amountTone(0), "");
});

test("grant categories, sources and statuses have words", () => {
  assert.equal(grantCategoryLabel("paid"), "Paid");
  assert.equal(grantCategoryLabel("promotional"), "Promotional");
  assert.equal(grantSourceLabel("welcome"), "Welcome credits");
  assert.equal(grantSourceLabel("migration"), "Earlier balance");
  assert.deepEqual(
    ["active", "depleted", "expired", "voided"].map(grantStatusLabel),
    ["Active", "Used up", "Expired", "Voided"],
  );
  assert.equal(grantStatusLabel("frozen"), "frozen");
});

test("a grant shows what is left of its amount", () => {
  assert.equal(grantRemainingText({ remaining: 1500, amount: 2000 }, US), "1,500 of 2,000");
});

test("each auto-recharge status is a sentence", () => {
  const bundle = { name: "Standard", credits: 2000 };
  assert.equal(rechargeStatusText({ status: "off" }, bundle, US), "Auto-recharge is off.");
  assert.equal(
    rechargeStatusText({ status: "active", threshold: 200 }, bundle, US),
    "On: when your available credits fall below 200, the Standard bundle (2,000 credits) is bought with your saved card.",
  );
  assert.match(rechargeStatusText({ status: "needs_payment_method" }, bundle, US), /^Paused: your saved card can't be charged/);
  assert.match(rechargeStatusText({ status: "disabled_after_failures" }, bundle, US), /^Paused after 3 failed payments/);
  assert.equal(rechargeStatusText({ status: "mystery" }, bundle, US), "Auto-recharge is mystery.");
});

test("the monthly count says how many of the limit were used", () => {
  assert.equal(rechargeCountText({ recharges_this_month: 2, monthly_limit: 5 }, US), "2 of 5 automatic top-ups used this month.");
});

test("the last failure is read from any of the spellings the API may use", () => {
  assert.deepEqual(rechargeFailure({ last_failure: { reason: "expired_card", at: "2026-01-01T00:00:00Z" } }), {
    reason: "expired_card",
    at: "2026-01-01T00:00:00Z",
  });
  assert.deepEqual(rechargeFailure({ last_failure: { code: "card_declined" } }), { reason: "card_declined", at: null });
  assert.deepEqual(rechargeFailure({ last_failure: "insufficient_funds" }), { reason: "insufficient_funds", at: null });
  assert.deepEqual(rechargeFailure({ last_failure_reason: "lost_card", last_failure_at: "x" }), { reason: "lost_card", at: "x" });
  assert.equal(rechargeFailure({ last_failure: null }), null);
  assert.equal(rechargeFailure({}), null);
});

test("failure reasons are explained in words, unknown ones name the code", () => {
  assert.equal(rechargeFailureText("insufficient_funds"), "The last automatic top-up failed: the card was declined for insufficient funds.");
  assert.match(rechargeFailureText("authentication_required"), /bank asked to confirm the payment/);
  assert.equal(rechargeFailureText("weird_code"), "The last automatic top-up failed (weird_code).");
  assert.equal(rechargeFailureText(null), null);
});

test("a saved card shows its brand and last four digits", () => {
  assert.equal(cardText({ brand: "visa", last4: "4242" }), "Visa \u2022\u2022\u2022\u2022 4242");
  assert.equal(cardText({ brand: "amex", last4: "0005" }), "American Express \u2022\u2022\u2022\u2022 0005");
  assert.equal(cardText(null), null);
});
