/**
 * Entry point of the dashboard: wires config, sign-in, the API client and the
 * panels (js/panels/, one module per card) together, and owns the two screens
 * (sign-in and dashboard) and the return from Checkout.
 *
 * Error policy, in one place (handleError): an AuthError sends the person back
 * to sign-in with the reason, a NetworkError shows "can't be reached" with a
 * Retry button, any other API error shows the envelope's message. The page
 * never stays half-drawn after a failure. A panel whose route the service does
 * not have (404: settings and usage on an older deployment) hides instead.
 */

import { ApiError, AuthError, NetworkError, createApi, isMissingRoute } from "./api.js";
import {
  beginCognitoSignIn,
  clearSession,
  cognitoLogoutUrl,
  completeCognitoRedirect,
  displayName,
  msUntilExpiry,
  readSession,
  signInDev,
} from "./auth.js";
import { createCatalog } from "./catalog.js";
import { captureCheckoutReturn, forgetCheckoutReturn, pendingCheckoutReturn, watchPurchase } from "./checkout.js";
import { loadConfig } from "./config.js";
import { byTestId } from "./dom.js";
import { formatCredits } from "./format.js";
import { clearAlert, clearStatus, showAlert, showStatus } from "./notices.js";
import { createBalancePanel } from "./panels/balance.js";
import { createBuyPanel } from "./panels/buy.js";
import { createGrantsPanel } from "./panels/grants.js";
import { createHistoryPanel } from "./panels/history.js";
import { createRechargePanel } from "./panels/recharge.js";
import { createAlertsPanel } from "./panels/settings.js";
import { createUsagePanel } from "./panels/usage.js";

const ui = {
  main: document.getElementById("main"),
  loading: byTestId("loading"),
  checkAgain: byTestId("check-again"),
  account: byTestId("account"),
  userLabel: byTestId("user-label"),
  signOut: byTestId("sign-out"),
  signIn: byTestId("sign-in"),
  signInMessage: byTestId("sign-in-message"),
  signInForm: byTestId("sign-in-form"),
  userId: byTestId("user-id"),
  userIdError: byTestId("user-id-error"),
  email: byTestId("email"),
  signInSubmit: byTestId("sign-in-submit"),
  signInCognito: byTestId("sign-in-cognito"),
  dashboard: byTestId("dashboard"),
  dashboardHeading: document.getElementById("dashboard-heading"),
};

const MESSAGES = {
  expired: "Your session expired. Please sign in again.",
  invalid: "Your sign-in is no longer valid. Please sign in again.",
  signedOut: "You have signed out.",
  finishPurchase: "Sign in to finish adding your purchased credits.",
  paymentReceived: "Payment received — adding your credits…",
  slowPayment:
    "Your payment is still being confirmed. Some payment methods, such as bank debits, take longer to clear " +
    "(up to a few business days). Your balance will update by itself when the payment clears; you can leave this page.",
  canceled: "Checkout canceled — no charge was made.",
  failed: "The payment didn't go through, so no credits were added. You can try again with another payment method.",
  expiredCheckout: "The checkout session expired before payment was completed. No credits were added and no charge was made.",
  refunded: "This purchase was refunded, so its credits are no longer in your balance.",
  notFound: "We couldn't find that purchase for your account. If you were charged, please contact support.",
  unexpected: "Something went wrong on this page. Please reload it.",
};

let config = null;
let api = null;
// Bumped on every sign-in and sign-out: work started for an earlier session
// (a poll, a slow response) checks it and stops instead of drawing stale data.
let sessionGeneration = 0;
let expiryTimer = null;
// Built at boot, once the API client exists.
let catalog = null;
let panels = null;

// ------------------------------------------------------------------ errors

function handleError(err) {
  if (err instanceof AuthError) {
    returnToSignIn(err.message);
  } else if (err instanceof NetworkError) {
    showAlert(err.message, { retry: refreshAll });
  } else if (err instanceof ApiError) {
    showAlert(err.message);
  } else {
    // A bug in this page, not a service problem: say so, and keep the details for developers.
    console.error(err);
    showAlert(MESSAGES.unexpected);
  }
}

// ------------------------------------------------------------------ screens

function showSignIn(message = "") {
  ui.loading.hidden = true;
  ui.dashboard.hidden = true;
  ui.account.hidden = true;
  ui.signIn.hidden = false;
  ui.signInMessage.textContent = message || (pendingCheckoutReturn()?.kind === "success" ? MESSAGES.finishPurchase : "");
  const dev = config?.auth.mode !== "cognito";
  ui.signInForm.hidden = !dev;
  ui.signInCognito.hidden = dev;
}

function returnToSignIn(message) {
  // Several requests can fail with 401 at once; the first one's message stays.
  if (!ui.signIn.hidden && ui.dashboard.hidden) return;
  endSession();
  showSignIn(message);
}

function endSession() {
  sessionGeneration++;
  clearTimeout(expiryTimer);
  clearSession();
  clearAlert();
  clearStatus();
  catalog?.forget();
  if (panels) for (const panel of Object.values(panels)) panel.clear();
}

function enterDashboard(session) {
  sessionGeneration++;
  ui.loading.hidden = true;
  ui.signIn.hidden = true;
  ui.signInMessage.textContent = "";
  ui.dashboard.hidden = false;
  ui.account.hidden = false;
  ui.userLabel.textContent = displayName(session.claims);
  scheduleExpiry(session.claims);
  refreshAll();
  resumeCheckoutReturn();
}

/** Goes back to sign-in when the token expires, rather than on the next failed click. */
function scheduleExpiry(claims) {
  clearTimeout(expiryTimer);
  const ms = msUntilExpiry(claims);
  // setTimeout can't wait longer than 2^31-1 ms; such a token outlives the tab anyway.
  if (ms !== null && ms < 2 ** 31 - 1) expiryTimer = setTimeout(() => returnToSignIn(MESSAGES.expired), ms);
}

// ------------------------------------------------------------------ data

function refreshAll() {
  clearAlert();
  return Promise.all([
    panels.balance.load(),
    panels.buy.load(),
    panels.grants.reload(),
    panels.usage.load(),
    loadSettings(),
    panels.history.reload(),
  ]);
}

/** A check that is true while the session that called it is still the current one. */
function sessionCheck() {
  const mine = sessionGeneration;
  return () => mine === sessionGeneration;
}

/**
 * Runs `work` for the current session; drops its result (and errors) if the session changed meanwhile.
 * With `missing`, a 404 (the service has no such route) calls it instead of showing an error.
 */
async function forSession(work, draw, { missing } = {}) {
  const current = sessionCheck();
  try {
    const result = await work();
    if (current()) draw(result);
  } catch (err) {
    if (!current()) return;
    if (missing && isMissingRoute(err)) missing();
    else handleError(err);
  }
}

/** One GET /credits/settings feeds the alerts and auto-recharge cards and the "save this card" choice. */
function loadSettings() {
  return forSession(
    () => Promise.all([api.settings(), catalog.bundles().catch(() => null)]),
    ([settings, bundles]) => showSettings(settings, bundles),
    { missing: hideSettings },
  );
}

function showSettings(settings, bundles) {
  panels.alerts.render(settings);
  panels.recharge.render(settings, bundles);
  panels.buy.setSaveCardAvailable(Boolean(settings.auto_recharge));
}

function hideSettings() {
  panels.alerts.hide();
  panels.recharge.hide();
  panels.buy.setSaveCardAvailable(false);
}

function createPanels() {
  const run = forSession;
  const card = (testid) => byTestId(testid);
  const settingsDeps = {
    api,
    onError: handleError,
    isCurrent: sessionCheck,
    // A PUT answers the whole settings: redraw every card that shows them.
    onSaved: (settings) => catalog.bundles().catch(() => null).then((bundles) => showSettings(settings, bundles)),
  };
  return {
    balance: createBalancePanel(card("balance-card"), { api, run }),
    buy: createBuyPanel(card("buy-card"), { api, run, catalog, onError: handleError, beforeAction: clearAlert }),
    grants: createGrantsPanel(card("grants"), { api, run }),
    usage: createUsagePanel(card("usage"), { api, run, catalog }),
    alerts: createAlertsPanel(card("alerts"), settingsDeps),
    recharge: createRechargePanel(card("recharge"), settingsDeps),
    history: createHistoryPanel(card("history"), { api, run, catalog }),
  };
}

// ------------------------------------------------------------------ checkout return

function resumeCheckoutReturn() {
  const pending = pendingCheckoutReturn();
  if (!pending) return;
  if (pending.kind === "canceled") {
    forgetCheckoutReturn();
    showStatus(MESSAGES.canceled, "info");
    return;
  }
  followPurchase(pending.sessionId);
}

async function followPurchase(sessionId) {
  const mine = sessionGeneration;
  ui.checkAgain.hidden = true;
  showStatus(MESSAGES.paymentReceived, "progress");
  let result;
  try {
    result = await watchPurchase(sessionId, (id) => api.purchaseStatus(id), {
      onSlow: () => showStatus(MESSAGES.slowPayment, "info"),
      isCancelled: () => mine !== sessionGeneration,
    });
  } catch (err) {
    if (mine !== sessionGeneration) return;
    // Not forgotten on AuthError: after signing in again the poll resumes.
    if (!(err instanceof AuthError)) {
      clearStatus();
      forgetCheckoutReturn();
    }
    handleError(err);
    return;
  }
  if (result.outcome === "cancelled") return;
  if (result.outcome === "timeout") {
    // Still pending: keep the return remembered so a reload checks again too.
    showStatus(MESSAGES.slowPayment, "info");
    ui.checkAgain.hidden = false;
    return;
  }

  forgetCheckoutReturn();
  switch (result.outcome) {
    case "fulfilled":
      showStatus(`${formatCredits(result.purchase.credits)} credits added.`, "success");
      refreshAll();
      break;
    case "failed":
      showStatus(MESSAGES.failed, "warning");
      break;
    case "expired":
      showStatus(MESSAGES.expiredCheckout, "warning");
      break;
    case "refunded":
      showStatus(MESSAGES.refunded, "warning");
      refreshAll();
      break;
    case "not_found":
      showStatus(MESSAGES.notFound, "warning");
      break;
    default:
      // A status this page doesn't know yet: report it rather than guess.
      showStatus(`The purchase is ${result.outcome}.`, "info");
  }
}

// ------------------------------------------------------------------ sign-in / out

async function onDevSignIn(event) {
  event.preventDefault();
  const sub = ui.userId.value.trim();
  if (!sub) {
    ui.userIdError.textContent = "Enter a user id.";
    ui.userId.setAttribute("aria-invalid", "true");
    ui.userId.focus();
    return;
  }
  ui.userIdError.textContent = "";
  ui.userId.removeAttribute("aria-invalid");
  ui.signInSubmit.disabled = true;
  clearAlert();
  try {
    await signInDev(api, sub, ui.email.value.trim());
  } catch (err) {
    ui.signInSubmit.disabled = false;
    if (err instanceof NetworkError) showAlert(err.message, { retry: () => ui.signInForm.requestSubmit() });
    else showAlert(err.message);
    return;
  }
  ui.signInSubmit.disabled = false;
  startFromStoredSession();
  // The form that had focus is gone; put keyboard and screen reader users at the top of the dashboard.
  ui.dashboardHeading.focus();
}

async function onCognitoSignIn() {
  ui.signInCognito.disabled = true;
  try {
    await beginCognitoSignIn(config.auth);
  } catch (err) {
    ui.signInCognito.disabled = false;
    handleError(err);
  }
}

function onSignOut() {
  forgetCheckoutReturn();
  endSession();
  if (config.auth.mode === "cognito") {
    location.assign(cognitoLogoutUrl(config.auth));
    return;
  }
  showSignIn(MESSAGES.signedOut);
  ui.userId.focus();
}

function startFromStoredSession(reasonIfNone = "") {
  const session = readSession();
  if (session.state === "ok") {
    enterDashboard(session);
    return;
  }
  const reason = { expired: MESSAGES.expired, invalid: MESSAGES.invalid }[session.state] ?? reasonIfNone;
  showSignIn(reason);
}

// ------------------------------------------------------------------ boot

async function boot() {
  clearAlert();
  ui.loading.hidden = false;
  captureCheckoutReturn();
  try {
    config = await loadConfig();
  } catch (err) {
    ui.loading.hidden = true;
    showAlert(err.message, { retry: boot });
    return;
  }
  // getToken re-reads storage on every request so an expired token is never sent.
  api = createApi({
    apiBase: config.apiBase,
    getToken: () => {
      const session = readSession();
      return session.state === "ok" ? session.token : null;
    },
  });
  if (!panels) {
    catalog = createCatalog(api);
    panels = createPanels();
  }

  let signInError = "";
  if (config.auth.mode === "cognito") {
    try {
      await completeCognitoRedirect(config.auth);
    } catch (err) {
      signInError = err.message;
    }
  }
  startFromStoredSession(signInError);
}

ui.signInForm.addEventListener("submit", onDevSignIn);
ui.signInCognito.addEventListener("click", onCognitoSignIn);
ui.signOut.addEventListener("click", onSignOut);
ui.checkAgain.addEventListener("click", () => {
  const pending = pendingCheckoutReturn();
  if (pending?.kind === "success") followPurchase(pending.sessionId);
});

// Coming back with the browser's Back button from Checkout restores this page
// from the back/forward cache with its Buy button still disabled; redraw.
window.addEventListener("pageshow", (event) => {
  if (event.persisted && !ui.dashboard.hidden) panels.buy.load();
});

boot();
