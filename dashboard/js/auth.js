/**
 * Sign-in: who the person is and which bearer token the API gets.
 *
 * Two modes, chosen by config.json `auth.mode`:
 *  - "dev": the local stack's POST /dev/token issues a token for any user id.
 *  - "cognito": Hosted UI, authorization code + PKCE (S256). No client secret,
 *    so the token exchange can happen in the browser.
 *
 * The token lives in sessionStorage: it survives the round trip to Stripe
 * Checkout in the same tab but not closing the tab, and no other tab can read it.
 */

import { NetworkError } from "./api.js";

const TOKEN_KEY = "credits.token";
const PKCE_KEY = "credits.pkce";

// Treat a token as expired a little early so a request doesn't leave with a
// token that expires in flight.
const EXPIRY_SKEW_SECONDS = 10;

/** The JWT's claims, or null if it isn't a decodable JWT. The signature is the API's business. */
export function decodeJwt(token) {
  try {
    const part = String(token).split(".")[1];
    const json = new TextDecoder().decode(base64UrlDecode(part));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/**
 * @returns {{state: "none"} | {state: "expired"} | {state: "invalid"} | {state: "ok", token: string, claims: object}}
 */
export function readSession(now = Date.now()) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return { state: "none" };
  const claims = decodeJwt(token);
  if (!claims) {
    sessionStorage.removeItem(TOKEN_KEY);
    return { state: "invalid" };
  }
  if (typeof claims.exp === "number" && claims.exp - EXPIRY_SKEW_SECONDS <= now / 1000) {
    sessionStorage.removeItem(TOKEN_KEY);
    return { state: "expired" };
  }
  return { state: "ok", token, claims };
}

/** Milliseconds until readSession() will call this token expired, or null if it has no exp. */
export function msUntilExpiry(claims, now = Date.now()) {
  if (typeof claims.exp !== "number") return null;
  return Math.max(0, (claims.exp - EXPIRY_SKEW_SECONDS) * 1000 - now);
}

/** A name to show for the signed-in person. */
export function displayName(claims) {
  return claims.email || claims["cognito:username"] || claims.username || claims.sub || "Signed in";
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function storeToken(token) {
  if (!decodeJwt(token)) throw new Error("The sign-in service returned a token this page can't read.");
  sessionStorage.setItem(TOKEN_KEY, token);
}

// ---------------------------------------------------------------- dev mode

/** POST /dev/token on the local stack. Throws api.js errors. */
export async function signInDev(api, sub, email) {
  const { token } = await api.devToken(sub, email || undefined);
  storeToken(token);
}

// ---------------------------------------------------------------- cognito mode

/** Sends the browser to the Hosted UI. Never returns normally. */
export async function beginCognitoSignIn(auth) {
  const verifier = base64UrlEncode(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64UrlEncode(crypto.getRandomValues(new Uint8Array(16)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));

  const url = new URL("/oauth2/authorize", auth.domain);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: auth.clientId,
    redirect_uri: auth.redirectUri,
    scope: auth.scopes.join(" "),
    state,
    code_challenge: base64UrlEncode(new Uint8Array(digest)),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * If the URL is the Hosted UI's redirect back (?code=&state= or ?error=),
 * finish the sign-in and remove those parameters from the address bar.
 * @returns {Promise<boolean>} whether the URL was a sign-in redirect
 * @throws Error with a message for a person when the sign-in failed
 */
export async function completeCognitoRedirect(auth) {
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  const error = url.searchParams.get("error");
  if (!code && !error) return false;

  const returnedState = url.searchParams.get("state");
  for (const name of ["code", "state", "error", "error_description"]) url.searchParams.delete(name);
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);

  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);

  if (error) throw new Error(`Sign-in didn't complete (${error}). Please try again.`);
  // A state we didn't issue means this redirect wasn't started by this tab.
  if (!saved || saved.state !== returnedState) throw new Error("Sign-in didn't complete. Please try again.");

  let response;
  try {
    response = await fetch(new URL("/oauth2/token", auth.domain), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: auth.clientId,
        code,
        redirect_uri: auth.redirectUri,
        code_verifier: saved.verifier,
      }),
    });
  } catch (err) {
    throw new NetworkError(err);
  }
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error("Sign-in didn't complete. Please try again.");
  // An HTTP API JWT authorizer whose audience is the app client id accepts the
  // id token; one configured for access tokens (scopes) needs the access token.
  const token = auth.tokenType === "access" ? tokens.access_token : tokens.id_token;
  if (!token) throw new Error("Sign-in didn't return a usable token. Please try again.");
  storeToken(token);
  return true;
}

/** The Hosted UI logout URL, which also ends the Cognito session cookie. */
export function cognitoLogoutUrl(auth) {
  const url = new URL("/logout", auth.domain);
  url.search = new URLSearchParams({ client_id: auth.clientId, logout_uri: auth.logoutUri || auth.redirectUri }).toString();
  return url.toString();
}

// ---------------------------------------------------------------- base64url

function base64UrlEncode(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
