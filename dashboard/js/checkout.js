/**
 * Coming back from Stripe Checkout.
 *
 * The service's success_url is `/?success=true&session_id=cs_...` and its
 * cancel_url `/?canceled=true`. Credits are added by the webhook, not by the
 * redirect, so after a success we poll GET /credits/purchases/{session_id}
 * until the purchase is settled. The return is remembered in sessionStorage
 * so that a reload, or a sign-in in between (expired token), still finishes it.
 */

import { ApiError, AuthError } from "./api.js";

const RETURN_KEY = "credits.checkoutReturn";
// Stripe session ids are "cs_test_..." / "cs_live_..."; anything else in the
// URL is not ours to put in an API path.
const SESSION_ID = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * Moves the checkout return parameters from the URL into sessionStorage and
 * removes them from the address bar, so a bookmark or reload doesn't replay them.
 */
export function captureCheckoutReturn() {
  const url = new URL(location.href);
  const params = url.searchParams;
  let found = null;
  if (params.get("success") === "true" && SESSION_ID.test(params.get("session_id") || "")) {
    found = { kind: "success", sessionId: params.get("session_id") };
  } else if (params.get("canceled") === "true") {
    found = { kind: "canceled" };
  }
  if (!params.has("success") && !params.has("canceled") && !params.has("session_id")) return;

  for (const name of ["success", "canceled", "session_id"]) params.delete(name);
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  if (found) sessionStorage.setItem(RETURN_KEY, JSON.stringify(found));
}

/** @returns {{kind: "success", sessionId: string} | {kind: "canceled"} | null} */
export function pendingCheckoutReturn() {
  try {
    return JSON.parse(sessionStorage.getItem(RETURN_KEY) || "null");
  } catch {
    return null;
  }
}

export function forgetCheckoutReturn() {
  sessionStorage.removeItem(RETURN_KEY);
}

export const POLL_DEFAULTS = Object.freeze({
  firstDelayMs: 500,
  maxDelayMs: 5000,
  // Card payments settle in a second or two; past this, explain the wait.
  slowAfterMs: 10_000,
  // Past this, stop polling and let the person ask again.
  giveUpAfterMs: 120_000,
});

/**
 * Polls the purchase until it is no longer pending, with exponential backoff.
 *
 * @param {(sessionId: string) => Promise<{status: string, credits: number}>} fetchStatus
 * @param {object} hooks
 * @param {() => void} [hooks.onSlow]  called once when still pending after slowAfterMs
 * @param {() => boolean} [hooks.isCancelled]  stop quietly (e.g. the person signed out)
 * @returns {Promise<{outcome: "fulfilled"|"failed"|"expired"|"refunded"|"not_found"|"timeout"|"cancelled", purchase?: object}>}
 * @throws AuthError (sign in again) or an ApiError that retrying can't fix
 */
export async function watchPurchase(sessionId, fetchStatus, hooks = {}, options = POLL_DEFAULTS) {
  const { onSlow = () => {}, isCancelled = () => false } = hooks;
  const started = Date.now();
  // A timer rather than a check between polls, so the explanation appears on
  // time even while the backoff is sleeping.
  const slowTimer = setTimeout(() => isCancelled() || onSlow(), options.slowAfterMs);
  try {
    let delay = options.firstDelayMs;
    for (;;) {
      if (isCancelled()) return { outcome: "cancelled" };
      try {
        const purchase = await fetchStatus(sessionId);
        if (purchase.status !== "pending") return { outcome: purchase.status, purchase };
      } catch (err) {
        if (err instanceof AuthError) throw err;
        if (err instanceof ApiError && err.status === 404) return { outcome: "not_found" };
        // 5xx and network errors are worth waiting out; other 4xx are not.
        if (err instanceof ApiError && err.status < 500) throw err;
      }
      const left = options.giveUpAfterMs - (Date.now() - started);
      if (left <= 0) return { outcome: "timeout" };
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, options.maxDelayMs);
    }
  } finally {
    clearTimeout(slowTimer);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
