/**
 * Client for the credits HTTP API (docs/api.md and openapi.yaml in the repository) and nothing else.
 *
 * Every failure becomes one of three error classes so the page can react in
 * one place: AuthError (sign in again), NetworkError (service unreachable,
 * offer a retry) and ApiError (show the envelope's message).
 */

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** 401, or a token we already know is missing or expired. */
export class AuthError extends ApiError {
  constructor(message = "Your session has expired or is no longer valid. Please sign in again.") {
    super(401, "unauthorized", message);
    this.name = "AuthError";
  }
}

/** The request never got an HTTP answer (server down, DNS, CORS, offline). */
export class NetworkError extends Error {
  constructor(cause) {
    super("The credits service can't be reached right now. Check your connection and try again.");
    this.name = "NetworkError";
    this.cause = cause;
  }
}

/**
 * The service has no such route (yet): the local stack's and API Gateway's answer to a path it does not
 * serve. Panels for routes added later (settings, usage) hide on it instead of showing an error.
 */
export function isMissingRoute(err) {
  return err instanceof ApiError && !(err instanceof AuthError) && err.status === 404;
}

/**
 * A random UUID for Idempotency-Key. crypto.randomUUID only exists in secure
 * contexts; getRandomValues works everywhere, so a dashboard opened over plain
 * http on a LAN address can still buy.
 */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * @param {object} opts
 * @param {string} opts.apiBase  "" for same origin, or "https://api.example.com"
 * @param {() => string|null} opts.getToken  a valid bearer token, or null when there is none
 */
export function createApi({ apiBase, getToken }) {
  const base = String(apiBase || "").replace(/\/+$/, "");

  async function request(method, path, { body, auth = true, headers = {} } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (auth) {
      const token = getToken();
      // Don't send a request we know will be refused; the answer is the same.
      if (!token) throw new AuthError();
      init.headers.Authorization = `Bearer ${token}`;
    }
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }

    let response;
    try {
      response = await fetch(base + path, init);
    } catch (err) {
      throw new NetworkError(err);
    }

    const payload = await readJson(response);
    if (response.ok) {
      if (payload === undefined) {
        throw new ApiError(response.status, "bad_response", "The service sent an unexpected response. Please try again.");
      }
      return payload;
    }
    const error = payload?.error ?? {};
    // The server's 401 wording varies (our envelope, or API Gateway's own
    // {"message": "Unauthorized"}); the person only needs to know to sign in.
    if (response.status === 401) throw new AuthError();
    // Gateways in front of the service (API Gateway, a proxy) answer 502/503/504
    // without our envelope: to a person that is the same as "down".
    if (!error.message && response.status >= 502 && response.status <= 504) throw new NetworkError();
    throw new ApiError(
      response.status,
      error.code ?? "http_error",
      error.message ?? `The service answered with an error (HTTP ${response.status}). Please try again.`,
      error,
    );
  }

  const q = (params) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") s.set(k, String(v));
    const text = s.toString();
    return text ? `?${text}` : "";
  };

  return {
    devToken: (sub, email) => request("POST", "/dev/token", { auth: false, body: email ? { sub, email } : { sub } }),
    bundles: () => request("GET", "/credits/bundles", { auth: false }),
    features: () => request("GET", "/credits/features", { auth: false }),
    balance: () => request("GET", "/credits/balance"),
    history: ({ limit, cursor, type } = {}) => request("GET", `/credits/history${q({ limit, cursor, type })}`),
    grants: ({ status, limit, cursor } = {}) => request("GET", `/credits/grants${q({ status, limit, cursor })}`),
    usage: ({ from, to, group_by } = {}) => request("GET", `/credits/usage${q({ from, to, group_by })}`),
    settings: () => request("GET", "/credits/settings"),
    saveSettings: (patch) => request("PUT", "/credits/settings", { body: patch }),
    /** `savePaymentMethod` asks Checkout to keep the card for auto-recharge; the field is sent only then. */
    purchase: (bundle, idempotencyKey, { savePaymentMethod = false } = {}) =>
      request("POST", "/credits/purchase", {
        body: savePaymentMethod ? { bundle, save_payment_method: true } : { bundle },
        headers: { "Idempotency-Key": idempotencyKey },
      }),
    purchaseStatus: (sessionId) => request("GET", `/credits/purchases/${encodeURIComponent(sessionId)}`),
  };
}

async function readJson(response) {
  const text = await response.text().catch(() => "");
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
