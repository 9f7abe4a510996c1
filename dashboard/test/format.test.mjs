// Formatting of credits, money and dates, pinned to en-US and a time zone so results are exact.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MINUS,
  creditsPhrase,
  formatCredits,
  formatDate,
  formatDateTime,
  formatDayKey,
  formatExpiring,
  formatMoney,
  formatShortDay,
  formatSignedCredits,
} from "../js/format.js";

const US = { locale: "en-US", timeZone: "UTC" };
// ICU versions differ in which space they put before "PM" or after a currency code.
const plain = (text) => text.replace(/\s/g, " ");

test("credits use the locale's grouping and the typographic minus", () => {
  assert.equal(formatCredits(2000, US), "2,000");
  assert.equal(formatCredits(-1500, US), `${MINUS}1,500`);
  assert.equal(formatCredits(0, US), "0");
  assert.equal(formatCredits(1234567, { locale: "de-DE" }), "1.234.567");
});

test("signed credits put + on credits, − on debits and nothing on zero", () => {
  assert.equal(formatSignedCredits(2000, US), "+2,000");
  assert.equal(formatSignedCredits(-5, US), "\u22125");
  assert.equal(formatSignedCredits(0, US), "0");
});

test("credits phrase is singular for exactly one", () => {
  assert.equal(creditsPhrase(1, US), "1 credit");
  assert.equal(creditsPhrase(-1, US), "\u22121 credit");
  assert.equal(creditsPhrase(2000, US), "2,000 credits");
  assert.equal(creditsPhrase(0, US), "0 credits");
});

test("money is in the currency's minor unit, zero-decimal currencies included", () => {
  assert.equal(formatMoney(1990, "usd", US), "$19.90");
  assert.equal(formatMoney(500, "jpy", US), "\u00a5500");
  assert.equal(plain(formatMoney(1000, "bhd", US)), "BHD 1.000");
});

test("an unknown currency code still shows an amount instead of throwing", () => {
  assert.equal(formatMoney(1990, "not-a-code", US), "19.90 NOT-A-CODE");
});

test("date and time follow the given time zone", () => {
  const iso = "2026-01-31T23:30:00Z";
  assert.equal(plain(formatDateTime(iso, US)), "Jan 31, 2026, 11:30 PM");
  assert.equal(formatDate(iso, US), "Jan 31, 2026");
  // Half past eight the next morning in Tokyo.
  assert.equal(formatDate(iso, { locale: "en-US", timeZone: "Asia/Tokyo" }), "Feb 1, 2026");
  assert.equal(formatShortDay(new Date(iso), { locale: "en-US", timeZone: "Asia/Tokyo" }), "Feb 1");
});

test("an unparseable date is shown as it came", () => {
  assert.equal(formatDateTime("soon", US), "soon");
  assert.equal(formatDate("soon", US), "soon");
});

test("a usage day key is the same calendar day in every time zone", () => {
  assert.equal(formatDayKey("2026-03-01", { locale: "en-US" }), "Mar 1");
  assert.equal(formatDayKey("2026-03-01", { locale: "en-US", timeZone: "America/Los_Angeles" }), "Mar 1");
  assert.equal(formatDayKey("garbage", US), "garbage");
});

test("expiring credits read as a sentence with the date in the user's zone", () => {
  const expiring = { amount: 2000, at: "2026-12-31T23:00:00Z" };
  assert.equal(formatExpiring(expiring, US), "2,000 credits expire on Dec 31, 2026");
  assert.equal(formatExpiring(expiring, { locale: "en-US", timeZone: "Europe/Berlin" }), "2,000 credits expire on Jan 1, 2027");
  assert.equal(formatExpiring({ amount: 1, at: "2026-12-31T12:00:00Z" }, US), "1 credit expires on Dec 31, 2026");
});

test("nothing expiring gives no sentence", () => {
  assert.equal(formatExpiring(null, US), null);
  assert.equal(formatExpiring({ amount: 0, at: "2026-12-31T00:00:00Z" }, US), null);
});
