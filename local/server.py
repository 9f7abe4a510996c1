"""The local stack's HTTP front door: API Gateway's job for the template's routes, plus local-only extras.

Serves, on one port: every HttpApi route declared in template.yaml (JWT checked like the HTTP API authorizer, then
a payload 2.0 event to the handler), ``POST /dev/token``, the dashboard's static files and ``/config.json``, the
Stripe simulator under ``/_stripe/`` when no real ``STRIPE_SECRET_KEY`` is configured, and ``GET /_local/events``.
In-process beside it runs the change path (``local.change_path``: stream poller, bus, delivery queue, schedules).
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from local.change_path import ChangePath, ChangePathConfig
from local.change_path import env as change_path_env
from local.lambda_host import FunctionPool, decode_response, ensure_layer_on_path, http_event
from local.template import ROOT, Route, http_routes, scheduled_functions

MAX_BODY = 64 * 1024
DASHBOARD_DIR = ROOT / "dashboard"
DEV_JWT_SECRET = "local-dev-only-jwt-signing-secret-not-for-production"
DEV_ISSUER = "credits-local"
DEV_AUDIENCE = "credits-local"
DEV_WEBHOOK_SECRET = "whsec_local_dev_secret_do_not_use_in_production"
# Standard Webhooks format (whsec_ + base64 of 38 bytes), public, for local runs only.
DEV_OUTBOUND_SECRET = "whsec_Y3JlZGl0cy1sb2NhbC1kZXYtb3V0Ym91bmQtc2lnbmluZy1rZXk="
SIMULATOR_KEY = "sk_test_local_simulator"


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


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
    outbound_webhook_url: str | None = None  # None = events are listed by /_local/events but not delivered
    outbound_webhook_secret: str = DEV_OUTBOUND_SECRET
    default_alert_thresholds: str = ""
    schedule_seconds: float | None = None  # None = scheduled functions only on demand (make sweep / reconcile)
    extra_env: dict[str, str] = field(default_factory=dict)

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

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        # Most requests add no business metric; Powertools warns about each empty flush.
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self._apply_env()
        ensure_layer_on_path()
        self.routes: list[Route] = http_routes()
        self.pools = {r.function: FunctionPool(r.function, r.code_dir, r.handler) for r in self.routes}
        self.change_path = ChangePath(config.change_path(), self.invoke_scheduled, list(scheduled_functions()))
        self.pools.update(self.change_path.pools)
        self.simulator = self._make_simulator() if config.uses_simulator else None
        self.server = ThreadingHTTPServer((config.host, config.port), _handler_class(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

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
            return jwt.decode(
                token.strip(),
                self.config.jwt_secret,
                algorithms=["HS256"],
                audience=DEV_AUDIENCE,
                issuer=DEV_ISSUER,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            return None

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
                    return 401, {"content-type": "application/json"}, error_body(
                        "unauthorized", "A valid bearer token is required."
                    )
            elif route.auth == "iam":
                # Locally any SigV4-shaped request passes (credentials cannot be checked without AWS);
                # deployed, API Gateway verifies the signature and the caller's execute-api permission.
                if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    return 403, {"content-type": "application/json"}, error_body(
                        "forbidden", "This route needs an IAM (SigV4) signed request."
                    )
                iam_caller = "arn:aws:iam::123456789012:user/local-service"
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
            return decode_response(self.pools[route.function].invoke(event))
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
        return 404, {"content-type": "application/json"}, error_body("not_found", "No such route.")

    def _invoke_scheduled(self, function: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """`sam local invoke` for the template's scheduled functions (make reconcile, make sweep)."""
        if function not in scheduled_functions():
            return 404, {"content-type": "application/json"}, error_body("not_found", f"No scheduled {function}.")
        result = self.invoke_scheduled(function, json.loads(body) if body.strip() else None)
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()

    def invoke_scheduled(self, function: str, event: dict[str, Any] | None = None) -> Any:
        """Run a scheduled function as EventBridge Scheduler would (the local schedule and make sweep/reconcile)."""
        if function not in self.pools:
            self.pools[function] = FunctionPool(function, scheduled_functions()[function], "app.lambda_handler")
        return self.pools[function].invoke(event or {"source": "aws.scheduler", "detail-type": "Scheduled Event"})

    def _dev_token(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return 400, {"content-type": "application/json"}, error_body(
                "invalid_request", "body: request body must be valid JSON."
            )
        sub = data.get("sub") if isinstance(data, dict) else None
        email = data.get("email") if isinstance(data, dict) else None
        if not isinstance(sub, str) or not 1 <= len(sub.strip()) <= 128:
            return 400, {"content-type": "application/json"}, error_body(
                "invalid_request", "sub: a user id of 1-128 characters is required."
            )
        if email is not None and (not isinstance(email, str) or len(email) > 254 or "@" not in email):
            return 400, {"content-type": "application/json"}, error_body(
                "invalid_request", "email: must be an e-mail address."
            )
        token = issue_token(sub.strip(), email, secret=self.config.jwt_secret)
        return 200, {"content-type": "application/json"}, json.dumps({"token": token}).encode()

    def _static(self, path: str) -> tuple[int, dict[str, str], bytes] | None:
        if path == "/config.json":
            cfg = {"apiBase": "", "auth": {"mode": "dev"}}
            return 200, {"content-type": "application/json", "cache-control": "no-store"}, json.dumps(cfg).encode()
        rel = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (DASHBOARD_DIR / rel).resolve()
        if not target.is_relative_to(DASHBOARD_DIR.resolve()) or not target.is_file():
            return None
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            ctype = "text/javascript"
        return 200, {"content-type": ctype, "cache-control": "no-cache"}, target.read_bytes()


def _handler_class(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
        server_version = "credits-local"

        def log_message(self, format: str, *args: Any) -> None:
            if os.environ.get("LOCAL_ACCESS_LOG"):
                super().log_message(format, *args)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                if k not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _handle(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if "chunked" in headers.get("transfer-encoding", "").lower():
                # API Gateway buffers bodies; this server needs a length to stay in step with the connection.
                self.close_connection = True
                self._send(411, {"content-type": "application/json"},
                           error_body("length_required", "Send the body with a Content-Length header."))
                return
            raw_length = headers.get("content-length") or "0"
            if not raw_length.isdigit():
                self.close_connection = True
                self._send(400, {"content-type": "application/json"},
                           error_body("invalid_request", "Content-Length must be a non-negative integer."))
                return
            length = int(raw_length)
            if length > MAX_BODY:
                self.close_connection = True
                self._send(413, {"content-type": "application/json"},
                           error_body("payload_too_large", f"Request body is larger than {MAX_BODY} bytes."))
                return
            body = self.rfile.read(length) if length else b""
            try:
                status, out_headers, out = stack.dispatch(self.command, self.path, headers, body)
            except Exception:  # noqa: BLE001 - the API Gateway equivalent of a function crash
                import traceback

                traceback.print_exc()
                status, out_headers, out = 500, {"content-type": "application/json"}, error_body(
                    "internal_error", "Internal error; please retry."
                )
            self._send(status, out_headers, out)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle

    return Handler


ThreadingHTTPServer.request_queue_size = 256
