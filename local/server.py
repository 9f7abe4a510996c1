"""The local stack's HTTP front door: API Gateway's job for the template's routes, plus local-only extras.

Serves, on one port: every HttpApi route declared in template.yaml (JWT checked like the HTTP API authorizer, then
a payload 2.0 event to the handler), ``POST /dev/token``, the dashboard's static files and ``/config.json``, the
Stripe simulator under ``/_stripe/`` when no real ``STRIPE_SECRET_KEY`` is configured, and ``GET /_local/events``.
In-process beside it runs the change path (``local.change_path``: stream poller, bus, delivery queue, schedules).

Hardening, as deployed: it listens on loopback only; each handler is bounded by its ``Timeout`` from the template
(answered as API Gateway answers a timed-out Lambda); every answer, including malformed HTTP, unknown methods and
oversized headers, is the JSON error envelope, with a 4xx for the client's mistakes.
"""

from __future__ import annotations

import ipaddress
import json
import mimetypes
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from local.change_path import ChangePath, ChangePathConfig
from local.change_path import env as change_path_env
from local.http_edge import handler_class
from local.lambda_host import FunctionPool, FunctionTimeout, decode_response, ensure_layer_on_path, http_event
from local.template import (
    ROOT,
    Route,
    dashboard_security_headers,
    function_timeout,
    http_routes,
    load_template,
    scheduled_functions,
)

MAX_BODY = 64 * 1024
DASHBOARD_DIR = ROOT / "dashboard"
DEV_JWT_SECRET = "local-dev-only-jwt-signing-secret-not-for-production"
DEV_ISSUER = "credits-local"
DEV_AUDIENCE = "credits-local"
DEV_WEBHOOK_SECRET = "whsec_local_dev_secret_do_not_use_in_production"
# Standard Webhooks format (whsec_ + base64 of 38 bytes), public, for local runs only.
DEV_OUTBOUND_SECRET = "whsec_Y3JlZGl0cy1sb2NhbC1kZXYtb3V0Ym91bmQtc2lnbmluZy1rZXk="
SIMULATOR_KEY = "sk_test_LocalSimulatorOnly000000000000"  # the simulator accepts any sk_test_ key
# The identity every SigV4-shaped request gets locally (no AWS to verify it): the local allowlist holds it.
LOCAL_IAM_CALLER = "arn:aws:iam::123456789012:user/local-service"
INTEGRATION_TIMEOUT = 30.0  # seconds: HTTP API stops waiting for any integration after 30 s
JSON_HEADERS = {"content-type": "application/json"}


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issue_token(sub: str, email: str | None = None, ttl: int = 3600, secret: str = DEV_JWT_SECRET) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + ttl}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class StackConfig:
    port: int
    table_name: str
    dynamodb_endpoint: str
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    stripe_secret_key: str | None = None  # None = use the simulator
    stripe_api_base: str | None = None
    webhook_secret: str = DEV_WEBHOOK_SECRET
    jwt_secret: str = DEV_JWT_SECRET
    internal_principals: tuple[str, ...] = ()  # allowed besides LOCAL_IAM_CALLER (e.g. the events' example role)
    integration_timeout: float = INTEGRATION_TIMEOUT  # tests shorten it
    # The dashboard CSP's sign-in origin, as the template's DashboardAuthOrigin / Cognito domain: none in dev mode.
    dashboard_auth_origin: str | None = None
    outbound_webhook_url: str | None = None  # None = events are listed by /_local/events but not delivered
    outbound_webhook_secret: str = DEV_OUTBOUND_SECRET
    default_alert_thresholds: str = ""
    schedule_seconds: float | None = None  # None = scheduled functions only on demand (make sweep / reconcile)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Nothing the local stack starts may be reachable from another machine (the dev ledger has no real auth).
        if not is_loopback(self.host):
            raise ValueError(f"the local stack listens on loopback only, not {self.host!r}")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def uses_simulator(self) -> bool:
        return not self.stripe_secret_key

    def change_path(self) -> ChangePathConfig:
        return ChangePathConfig(
            table_name=self.table_name, dynamodb_endpoint=self.dynamodb_endpoint,
            region=os.environ.get("AWS_REGION", "us-east-1"), data_dir=self.data_dir,
            outbound_webhook_url=self.outbound_webhook_url, outbound_webhook_secret=self.outbound_webhook_secret,
            default_alert_thresholds=self.default_alert_thresholds, schedule_seconds=self.schedule_seconds,
        )


class LocalStack:
    """Wires env, handlers, the simulator and the HTTP server. ``start()`` serves in a background thread."""

    def __init__(self, config: StackConfig, template: dict[str, Any] | None = None) -> None:
        self.config = config
        self.template = template or load_template()  # tests may pass their own (e.g. a function that sleeps)
        # Most requests add no business metric; Powertools warns about each empty flush.
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self._apply_env()
        ensure_layer_on_path()
        self.routes: list[Route] = http_routes(self.template)
        self.pools = {r.function: self._pool(r.function, r.code_dir, r.handler) for r in self.routes}
        self.static_headers = dashboard_security_headers(self.template, auth_origin=config.dashboard_auth_origin)
        self.change_path = ChangePath(config.change_path(), self.invoke_scheduled,
                                      list(scheduled_functions(self.template)))
        self.pools.update(self.change_path.pools)
        self.simulator = self._make_simulator() if config.uses_simulator else None
        self.server = ThreadingHTTPServer((config.host, config.port), handler_class(self.dispatch, max_body=MAX_BODY))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    def _pool(self, function: str, code_dir: Path, handler: str) -> FunctionPool:
        return FunctionPool(function, code_dir, handler, timeout=function_timeout(function, self.template))

    def _apply_env(self) -> None:
        c = self.config
        env = {
            "TABLE_NAME": c.table_name,
            "DYNAMODB_ENDPOINT_URL": c.dynamodb_endpoint,
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "STRIPE_WEBHOOK_SECRET": c.webhook_secret,
            "STRIPE_SECRET_KEY": c.stripe_secret_key or SIMULATOR_KEY,
            "DASHBOARD_URL": c.base_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Credits",
            "POWERTOOLS_SERVICE_NAME": "credits",
            "INTERNAL_PRINCIPALS": ",".join((LOCAL_IAM_CALLER, *c.internal_principals)),
        }
        api_base = c.stripe_api_base if c.stripe_secret_key else f"{c.base_url}/_stripe"
        if api_base:
            env["STRIPE_API_BASE"] = api_base
        env.setdefault("POWERTOOLS_METRICS_DISABLED", os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"))
        env.update(change_path_env(c.change_path()))
        env.update(c.extra_env)
        os.environ.update(env)

    def _make_simulator(self) -> Any:
        from local.stripe_sim import StripeSimulator

        c = self.config
        state = (c.data_dir / "stripe-simulator.json") if c.data_dir else None
        return StripeSimulator(
            public_base=c.base_url,
            webhook_url=f"{c.base_url}/webhooks/stripe",
            webhook_secret=c.webhook_secret,
            state_path=state,
        )

    def warm(self) -> None:
        """Import every handler once now, so a broken config fails at start (as a cold start would)."""
        self.change_path.wire()
        for pool in self.pools.values():
            pool.warm()

    def start(self) -> LocalStack:
        self.change_path.wire()
        self.change_path.start()
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-stack", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.change_path.stop()

    # --- request dispatch ---------------------------------------------------------------------------------------
    def authenticate(self, headers: dict[str, str]) -> dict[str, Any] | None:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self.config.jwt_secret,
                algorithms=["HS256"],
                audience=DEV_AUDIENCE,
                issuer=DEV_ISSUER,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        from credits.claims import claims_problem  # the handlers' own rule (layer is on the path by now)

        # PyJWT checks the signature and that exp is in the future, but takes "exp": "9999999999" (a string) and
        # any string sub, a lone surrogate included: the contract calls those ill-formed, a 401.
        return None if claims_problem(claims) else claims

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path, raw_query = parts.path, parts.query
        for route in self.routes:
            params = route.match(method, path)
            if params is None:
                continue
            claims, iam_caller = None, None
            if route.auth == "jwt":
                claims = self.authenticate(headers)
                if claims is None:
                    return 401, JSON_HEADERS, error_body("unauthorized", "A valid bearer token is required.")
            elif route.auth == "iam":
                # Locally any SigV4-shaped request passes (credentials cannot be checked without AWS);
                # deployed, API Gateway verifies the signature and the caller's execute-api permission.
                if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    return 403, JSON_HEADERS, error_body("forbidden", "This route needs an IAM (SigV4) signed request.")
                iam_caller = LOCAL_IAM_CALLER
            event = http_event(
                route,
                method=method,
                raw_path=path,
                raw_query=raw_query,
                query=parse_qs(raw_query, keep_blank_values=True),
                headers=headers,
                body=body,
                path_params=params,
                claims=claims,
                iam_caller=iam_caller,
            )
            try:
                pool = self.pools[route.function]
                return decode_response(pool.invoke(event, max_wait=self.config.integration_timeout))
            except FunctionTimeout as exc:
                return self._timed_out(exc)
        if path.startswith("/_stripe/") and self.simulator is not None:
            status, h, b = self.simulator.handle(method, path, raw_query, headers, body)
            return status, {k.lower(): v for k, v in h.items()}, b
        if path == "/dev/token" and method == "POST":
            return self._dev_token(body)
        if path.startswith("/_local/invoke/") and method == "POST":
            return self._invoke_scheduled(path.rsplit("/", 1)[-1], body)
        if path == "/_local/events" and method == "GET":
            user = parse_qs(raw_query).get("user_id", [None])[0]
            events = self.change_path.events(user)
            return 200, {"content-type": "application/json"}, json.dumps({"events": events}).encode()
        if method in ("GET", "HEAD"):
            static = self._static(path)
            if static is not None:
                return static
        return 404, JSON_HEADERS, error_body("not_found", "No such route.")

    @staticmethod
    def _timed_out(exc: FunctionTimeout) -> tuple[int, dict[str, str], bytes]:
        """What API Gateway answers: a Lambda that hit its Timeout is a function error (500); when the 30 s
        integration limit comes first it is 503. Deployed, the body is API Gateway's {"message": ...}."""
        if exc.function_timed_out:
            return 500, JSON_HEADERS, error_body(
                "function_timeout", f"The function did not answer within its {exc.waited:g} s timeout.")
        return 503, JSON_HEADERS, error_body(
            "function_timeout", f"The function did not answer within API Gateway's {exc.waited:g} s limit.")

    def _invoke_scheduled(self, function: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """`sam local invoke` for the template's scheduled functions (make reconcile, make sweep)."""
        if function not in scheduled_functions(self.template):
            return 404, JSON_HEADERS, error_body("not_found", f"No scheduled {function}.")
        try:
            event = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):
            return 400, JSON_HEADERS, error_body("invalid_request", "body: the event must be valid JSON.")
        try:
            result = self.invoke_scheduled(function, event)
        except FunctionTimeout as exc:
            return self._timed_out(exc)
        return 200, JSON_HEADERS, json.dumps(result).encode()

    def invoke_scheduled(self, function: str, event: dict[str, Any] | None = None) -> Any:
        """Run a scheduled function as EventBridge Scheduler would (the local schedule and make sweep/reconcile)."""
        if function not in self.pools:
            self.pools[function] = self._pool(function, scheduled_functions(self.template)[function],
                                              "app.lambda_handler")
        return self.pools[function].invoke(event or {"source": "aws.scheduler", "detail-type": "Scheduled Event"})

    def _dev_token(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return 400, JSON_HEADERS, error_body(
                "invalid_request", "body: request body must be valid JSON."
            )
        from credits.claims import MAX_SUB_LENGTH, sub_problem

        sub = data.get("sub") if isinstance(data, dict) else None
        email = data.get("email") if isinstance(data, dict) else None
        if isinstance(sub, str):
            sub = sub.strip()
        if sub_problem(sub):  # the same rule the authorizer applies: never mint a token it would refuse
            return 400, JSON_HEADERS, error_body(
                "invalid_request", f"sub: a user id of 1-{MAX_SUB_LENGTH} characters of valid Unicode is required."
            )
        if email is not None and (not isinstance(email, str) or len(email) > 254 or "@" not in email):
            return 400, JSON_HEADERS, error_body(
                "invalid_request", "email: must be an e-mail address."
            )
        token = issue_token(str(sub), email, secret=self.config.jwt_secret)
        return 200, JSON_HEADERS, json.dumps({"token": token}).encode()

    def _static(self, path: str) -> tuple[int, dict[str, str], bytes] | None:
        if path == "/config.json":
            cfg = {"apiBase": "", "auth": {"mode": "dev"}}
            return 200, {**JSON_HEADERS, "cache-control": "no-store"}, json.dumps(cfg).encode()
        rel = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (DASHBOARD_DIR / rel).resolve()
        if not target.is_relative_to(DASHBOARD_DIR.resolve()) or not target.is_file():
            return None
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            ctype = "text/javascript"
        # The deployed dashboard's security headers (CloudFront policy in the template), so CSP breakage shows here.
        return 200, {"content-type": ctype, "cache-control": "no-cache", **self.static_headers}, target.read_bytes()


ThreadingHTTPServer.request_queue_size = 256
