/**
 * Loads /config.json, the only thing that differs between the local stack and
 * a deployment (API origin and sign-in method), and checks it once so the rest
 * of the page can trust its shape.
 */

/**
 * @returns {Promise<{apiBase: string, auth: {mode: "dev"} | {mode: "cognito", domain: string,
 *   clientId: string, redirectUri: string, scopes: string[], tokenType: "id"|"access", logoutUri?: string}}>}
 */
export async function loadConfig() {
  let raw;
  try {
    // no-store: after a deployment changes the API origin, a cached copy would
    // point the page at the old one.
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    raw = await response.json();
  } catch (err) {
    throw new Error("The dashboard couldn't load its settings (config.json).", { cause: err });
  }
  return validate(raw);
}

function validate(raw) {
  const fail = (what) => {
    throw new Error(`The dashboard's settings are invalid: ${what}.`);
  };
  if (!raw || typeof raw !== "object") fail("config.json is not an object");
  const apiBase = raw.apiBase ?? "";
  if (typeof apiBase !== "string") fail("apiBase must be a string");

  const auth = raw.auth ?? { mode: "dev" };
  if (auth.mode === "dev") return { apiBase, auth: { mode: "dev" } };
  if (auth.mode !== "cognito") fail(`auth.mode must be "dev" or "cognito"`);
  for (const key of ["domain", "clientId", "redirectUri"]) {
    if (typeof auth[key] !== "string" || !auth[key]) fail(`auth.${key} is required for cognito`);
  }
  const tokenType = auth.tokenType ?? "id";
  if (tokenType !== "id" && tokenType !== "access") fail(`auth.tokenType must be "id" or "access"`);
  return {
    apiBase,
    auth: {
      mode: "cognito",
      domain: auth.domain,
      clientId: auth.clientId,
      redirectUri: auth.redirectUri,
      logoutUri: auth.logoutUri,
      scopes: Array.isArray(auth.scopes) && auth.scopes.length ? auth.scopes : ["openid", "email"],
      tokenType,
    },
  };
}
