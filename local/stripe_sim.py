"""Local Stripe simulator: the Stripe API subset the service uses, a hosted-checkout page, signed webhooks.

One responsibility: behave like Stripe test mode for the local stack (``make dev``) and the tests, with no
network. The local HTTP server forwards every ``/_stripe/...`` request to :meth:`StripeSimulator.handle`;
events are delivered synchronously by HTTP POST to ``webhook_url``, signed exactly as Stripe signs them.

Standard library only. ``python -m local.stripe_sim --port 12111`` also serves it stand-alone.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_VERSION = "2026-10-28"
PREFIX = "/_stripe"
STATE_VERSION = 1
MAX_BODY_BYTES = 1 << 20
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Stripe's bounds for a Checkout Session's expires_at, relative to its creation.
MIN_SESSION_TTL = 30 * 60
MAX_SESSION_TTL = 24 * 3600
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)

Response = tuple[int, dict[str, str], bytes]
JsonDict = dict[str, Any]

_ALPHABET = string.ascii_letters + string.digits
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY_RE = re.compile(r"\[([^\[\]]*)\]")
_ID_PREFIXES: dict[str, str] = {
    "prod_": "products",
    "price_": "prices",
    "cs_": "checkout_sessions",
    "pi_": "payment_intents",
    "ch_": "charges",
    "re_": "refunds",
    "dp_": "disputes",
    "evt_": "events",
}
_PRODUCT_FIELDS = frozenset(
    {
        "name",
        "active",
        "description",
        "metadata",
        "images",
        "statement_descriptor",
        "unit_label",
        "url",
        "tax_code",
        "shippable",
    }
)
_OBJECT_NAMES: dict[str, str] = {
    "products": "product",
    "prices": "price",
    "checkout_sessions": "checkout.session",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
    "events": "event",
}


# ---
# Helpers shared with tests and the local server


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``payload`` at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_form(text: str) -> JsonDict:
    """Decode Stripe's form encoding (``a[b][0][c]=v``, ``k[]=v``) into nested dicts and lists of strings."""
    root: JsonDict = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        match = _KEY_RE.match(key)
        if match is None:
            raise StripeApiError(400, f"Invalid parameter name: {key}", code="parameter_unknown", param=key)
        parts = [match.group(1), *_SUBKEY_RE.findall(match.group(2))]
        node = root
        for part in parts[:-1]:
            # "k[]" appends, so the next free index is the current size of the container.
            name = part if part != "" else str(len(node))
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise StripeApiError(400, f"Invalid parameter: {key}", code="parameter_invalid", param=key)
            node = child
        last = parts[-1] if parts[-1] != "" else str(len(node))
        if isinstance(node.get(last), dict):
            raise StripeApiError(400, f"Invalid parameter: {key}", code="parameter_invalid", param=key)
        node[last] = value
    listified = _listify(root, parent="")
    assert isinstance(listified, dict)
    return listified


def _listify(value: Any, *, parent: str) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v, parent=k) for k, v in value.items()}
    # Metadata keys are free-form strings even when they look like indexes.
    if parent != "metadata" and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _format_amount(amount: int, currency: str) -> str:
    cur = currency.lower()
    if cur in ZERO_DECIMAL_CURRENCIES:
        text = f"{amount:,}"
    else:
        text = f"{amount / 100:,.2f}"
    symbols = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}
    return f"{symbols[cur]}{text}" if cur in symbols else f"{text} {cur.upper()}"


class StripeApiError(Exception):
    """A Stripe-shaped error: rendered as ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param

    def body(self) -> JsonDict:
        error: JsonDict = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def _missing(kind: str, obj_id: str, param: str) -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


# ---
# Parameter coercion: the wire carries strings only.


def _check_keys(params: Mapping[str, Any], allowed: set[str] | frozenset[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed and key != "expand":
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def _int(
    params: Mapping[str, Any],
    key: str,
    *,
    name: str | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(key)
    label = name or key
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label)
    try:
        value = int(raw)
    except ValueError:
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label) from None
    if minimum is not None and value < minimum:
        raise StripeApiError(
            400, f"Invalid {label}: must be at least {minimum}", code="parameter_invalid_integer", param=label
        )
    if maximum is not None and value > maximum:
        raise StripeApiError(
            400, f"Invalid {label}: must be at most {maximum}", code="parameter_invalid_integer", param=label
        )
    return value


def _bool(params: Mapping[str, Any], key: str, *, name: str | None = None) -> bool | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if raw in ("true", True):
        return True
    if raw in ("false", False):
        return False
    raise StripeApiError(400, f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name or key)


def _str(params: Mapping[str, Any], key: str, *, name: str | None = None, max_len: int = 5000) -> str | None:
    raw = params.get(key)
    label = name or key
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise StripeApiError(400, f"Invalid string: {label}", code="parameter_invalid_string", param=label)
    if len(raw) > max_len:
        raise StripeApiError(
            400,
            f"Invalid {label}: must be at most {max_len} characters",
            code="parameter_invalid_string_too_long",
            param=label,
        )
    return raw


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def _dict(params: Mapping[str, Any], key: str, *, name: str | None = None) -> JsonDict:
    raw = params.get(key)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeApiError(400, f"Invalid object: {name or key}", code="parameter_invalid", param=name or key)
    return raw


def _list(params: Mapping[str, Any], key: str) -> list[Any]:
    raw = params.get(key)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list):
        raise StripeApiError(400, f"Invalid array: {key}", code="parameter_invalid", param=key)
    return raw


def _metadata(raw: Any, name: str = "metadata") -> dict[str, str]:
    """Validate metadata as Stripe does (50 keys, 40-char keys, 500-char values); empty values are dropped."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeApiError(400, f"Invalid {name}: must be an object", code="parameter_invalid", param=name)
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise StripeApiError(
                400,
                f"Invalid {name}[{key}]: must be a string",
                param=f"{name}[{key}]",
                code="parameter_invalid",
            )
        if len(key) > 40:
            raise StripeApiError(
                400,
                f"Metadata keys can have up to 40 characters ({key!r})",
                param=name,
                code="parameter_invalid",
            )
        if len(value) > 500:
            raise StripeApiError(
                400,
                f"Metadata values can have up to 500 characters ({key!r})",
                param=f"{name}[{key}]",
                code="parameter_invalid",
            )
        if value != "":
            out[key] = value
    if len(out) > 50:
        raise StripeApiError(400, "Metadata can have up to 50 keys", param=name, code="parameter_invalid")
    return out


def _merge_metadata(current: dict[str, str], raw: Any) -> dict[str, str]:
    """Stripe's update semantics: ``metadata=`` clears all, ``metadata[k]=`` unsets one key."""
    if raw == "":
        return {}
    if raw is None:
        return current
    merged = dict(current)
    if isinstance(raw, dict):
        for key, value in raw.items():
            if value == "":
                merged.pop(key, None)
    merged.update(_metadata(raw))
    return _metadata(merged)


def _created_filter(params: Mapping[str, Any]) -> Callable[[int], bool]:
    raw = params.get("created")
    if raw is None or raw == "":
        return lambda _created: True
    if isinstance(raw, str):
        exact = _int(params, "created")
        return lambda created: created == exact
    if not isinstance(raw, dict):
        raise StripeApiError(400, "Invalid created filter", code="parameter_invalid", param="created")
    _check_keys(raw, {"gt", "gte", "lt", "lte"}, "created")
    bounds = {op: _int(raw, op, name=f"created[{op}]") for op in ("gt", "gte", "lt", "lte")}

    def accept(created: int) -> bool:
        return not (
            (bounds["gt"] is not None and created <= bounds["gt"])
            or (bounds["gte"] is not None and created < bounds["gte"])
            or (bounds["lt"] is not None and created >= bounds["lt"])
            or (bounds["lte"] is not None and created > bounds["lte"])
        )

    return accept


# ---
# Request plumbing


@dataclass
class _Request:
    method: str
    path: str
    params: JsonDict
    api_key: str | None
    idempotency_key: str | None
    request_id: str
    now: int


@dataclass
class _Result:
    status: int
    body: JsonDict | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    deliver: list[str] = field(default_factory=list)
    # Simulator routes report how each delivery went; status_key names a field set to the first one's status.
    report_delivery: bool = False
    status_key: str | None = None
    replayed: bool = False


Handler = Callable[[_Request, "re.Match[str]"], _Result]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    api: bool  # True: Stripe REST (auth, idempotency, form bodies); False: simulator-only (JSON bodies)


def _empty_state() -> JsonDict:
    return {
        "version": STATE_VERSION,
        "products": {},
        "prices": {},
        "checkout_sessions": {},
        "session_private": {},
        "payment_intents": {},
        "charges": {},
        "refunds": {},
        "disputes": {},
        "events": {},
        "deliveries": {},
        "idempotency": {},
    }


class StripeSimulator:
    """In-memory (optionally JSON-persisted) Stripe test mode.

    Thread-safe: one lock guards the state; webhooks are sent outside it.
    """

    def __init__(
        self,
        *,
        public_base: str,
        webhook_url: str | None,
        webhook_secret: str,
        state_path: Path | None = None,
        delivery_attempts: int = 3,
        retry_backoff: float = 0.25,
        delivery_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        signing_clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_base = public_base.rstrip("/")
        self.webhook_url = webhook_url or None
        self.webhook_secret = webhook_secret
        self.state_path = Path(state_path) if state_path is not None else None
        self.delivery_attempts = max(1, delivery_attempts)
        self.retry_backoff = retry_backoff
        self.delivery_timeout = delivery_timeout
        # `clock` drives object timestamps and session expiry; signatures use `signing_clock` (wall time by
        # default) because receivers check them against their own clock.
        self._clock = clock
        self._signing_clock = signing_clock
        # Reentrant so helpers can take it again. Never held while a webhook is in flight: the receiver
        # (often this same process) may call back into the simulator while handling the event.
        self._lock = threading.RLock()
        # No proxies: HTTP(S)_PROXY in the environment must not capture localhost webhook traffic.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._state = self._load()
        self._routes = self._build_routes()

    # ---
    # Public API

    @property
    def api_base(self) -> str:
        """What to pass to ``StripeClient(base_addresses={"api": ...})`` to talk to this simulator."""
        return self.public_base + PREFIX

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Serve one HTTP request whose path starts with ``/_stripe/``; returns (status, headers, body)."""
        method = method.upper()
        lower_headers = {k.lower(): v for k, v in headers.items()}
        request_id = _new_id("req_", 14)
        try:
            result = self._dispatch(method, path, query, lower_headers, body, request_id)
        except StripeApiError as exc:
            result = _Result(exc.status, exc.body())
        statuses = [(event_id, self.deliver(event_id)) for event_id in result.deliver]
        if result.body is not None and result.report_delivery:
            result.body["deliveries"] = [{"event_id": e, "status": s} for e, s in statuses]
        if result.body is not None and result.status_key is not None:
            result.body[result.status_key] = statuses[0][1] if statuses else None
        return self._render(result, request_id)

    def deliver(self, event_id: str) -> int | None:
        """POST the event to ``webhook_url``, freshly signed; retry 5xx / connection errors a few times.

        Returns the final HTTP status, or None when nothing answered. Attempts are recorded beside the event.
        """
        with self._lock:
            event = self._state["events"].get(event_id)
            if event is None:
                return None
            payload = json.dumps(event, indent=2).encode("utf-8")
        if self.webhook_url is None:
            self._record_attempt(event_id, None, "no webhook_url configured", "")
            return None
        status: int | None = None
        for attempt in range(1, self.delivery_attempts + 1):
            header = sign_payload(payload, self.webhook_secret, int(self._signing_clock()))
            status, error, snippet = self._post(payload, header)
            self._record_attempt(event_id, status, error, snippet)
            if status is not None and status < 500 and status != 429:
                break
            if attempt < self.delivery_attempts:
                time.sleep(self.retry_backoff * (2 ** (attempt - 1)))
        return status

    def delivery(self, event_id: str) -> JsonDict | None:
        """The recorded delivery attempts of an event (a copy), or None if the event does not exist."""
        with self._lock:
            record = self._state["deliveries"].get(event_id)
            return copy.deepcopy(record) if record is not None else None

    def events(self, type_: str | None = None) -> list[JsonDict]:
        """All events, oldest first (copies), optionally of one type."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._state["events"].values() if type_ is None or e["type"] == type_]

    # ---
    # Dispatch and rendering

    def _dispatch(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> _Result:
        if not path.startswith(PREFIX + "/"):
            raise self._unrecognized(method, path)
        sub = path[len(PREFIX) :]
        for route in self._routes:
            match = route.pattern.fullmatch(sub)
            if match is None or route.method != method:
                continue
            if len(body) > MAX_BODY_BYTES:
                raise StripeApiError(400, "Request body too large.", code="parameter_invalid")
            if route.api:
                return self._dispatch_api(route, match, method, sub, query, headers, body, request_id)
            params = self._json_body(body) if method == "POST" else {}
            req = _Request(method, sub, params, None, None, request_id, self._now())
            with self._lock:
                pending = self._sweep_expired()
                try:
                    result = route.handler(req, match)
                except StripeApiError as exc:
                    result = _Result(exc.status, exc.body())
                finally:
                    self._save()
            result.deliver = pending + result.deliver
            return result
        raise self._unrecognized(method, sub)

    def _dispatch_api(
        self,
        route: _Route,
        match: re.Match[str],
        method: str,
        sub: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> _Result:
        api_key = self._authenticate(headers)
        if method == "POST":
            content_type = headers.get("content-type", "application/x-www-form-urlencoded")
            if body and "application/x-www-form-urlencoded" not in content_type:
                raise StripeApiError(
                    400,
                    "Invalid request: Stripe's API takes application/x-www-form-urlencoded bodies.",
                    code="parameter_invalid",
                )
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise StripeApiError(400, "Invalid request body: not UTF-8.") from None
            params = parse_form(text)
            if query:
                params = {**parse_form(query), **params}
        else:
            params = parse_form(query)
        idem_key = headers.get("idempotency-key") if method == "POST" else None
        req = _Request(method, sub, params, api_key, idem_key, request_id, self._now())
        with self._lock:
            pending = self._sweep_expired()
            try:
                result = self._with_idempotency(route, match, req)
            finally:
                self._save()
        result.deliver = pending + result.deliver
        return result

    def _with_idempotency(self, route: _Route, match: re.Match[str], req: _Request) -> _Result:
        if req.idempotency_key is None:
            return self._call(route, match, req)
        if len(req.idempotency_key) > 255:
            raise StripeApiError(
                400, "Idempotency keys can be at most 255 characters long.", code="idempotency_key_too_long"
            )
        store = self._state["idempotency"]
        for key in [k for k, v in store.items() if v["created"] < req.now - IDEMPOTENCY_TTL_SECONDS]:
            del store[key]
        # Keys are scoped to the account; any sk_test_ key is "the" account here, so scope by key string.
        scoped = hashlib.sha256(f"{req.api_key}\0{req.idempotency_key}".encode()).hexdigest()
        fingerprint = {"method": req.method, "path": req.path, "params": req.params}
        saved = store.get(scoped)
        if saved is not None:
            if saved["fingerprint"] != fingerprint:
                raise StripeApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{req.idempotency_key}' if you meant to execute "
                    "a different request.",
                    type_="idempotency_error",
                )
            return _Result(saved["status"], copy.deepcopy(saved["body"]), replayed=True)
        result = self._call(route, match, req)
        if result.status < 500 and result.body is not None:
            store[scoped] = {
                "created": req.now,
                "fingerprint": fingerprint,
                "status": result.status,
                "body": copy.deepcopy(result.body),
            }
        return result

    def _call(self, route: _Route, match: re.Match[str], req: _Request) -> _Result:
        try:
            result = route.handler(req, match)
        except StripeApiError as exc:
            # Stripe remembers failed requests under their idempotency key too.
            return _Result(exc.status, exc.body())
        if result.body is not None:
            expand = req.params.get("expand")
            if expand:
                result.body = self._expand(result.body, [str(p) for p in _list(req.params, "expand")])
        return result

    def _render(self, result: _Result, request_id: str) -> Response:
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION, "Cache-Control": "no-store"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        if result.raw is not None:
            headers["Content-Type"] = result.content_type
            return result.status, headers, result.raw
        headers["Content-Type"] = "application/json"
        return (
            result.status,
            headers,
            json.dumps(result.body if result.body is not None else {}, indent=2).encode(),
        )

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("authorization", "").strip()
        key: str | None = None
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            # curl -u sk_test_...: sends the key as the Basic user name.
            try:
                key = base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                key = None
        if not key:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
            masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"
            raise StripeApiError(401, f"Invalid API Key provided: {masked}")
        return key

    @staticmethod
    def _unrecognized(method: str, path: str) -> StripeApiError:
        return StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
            "help at https://support.stripe.com/.",
        )

    @staticmethod
    def _json_body(body: bytes) -> JsonDict:
        if not body.strip():
            return {}
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise StripeApiError(400, "Invalid JSON body.", code="parameter_invalid") from None
        if not isinstance(parsed, dict):
            raise StripeApiError(400, "The JSON body must be an object.", code="parameter_invalid")
        return parsed

    def _now(self) -> int:
        return int(self._clock())

    # ---
    # Persistence (callers hold the lock)

    def _load(self) -> JsonDict:
        state = _empty_state()
        if self.state_path is None or not self.state_path.exists():
            return state
        try:
            loaded = json.loads(self.state_path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict) or loaded.get("version") != STATE_VERSION:
                raise ValueError("unknown state version")
        except (OSError, ValueError) as exc:
            # A broken file must not stop `make dev`; keep it for inspection and start empty.
            aside = self.state_path.with_name(f"{self.state_path.name}.corrupt-{int(time.time())}")
            self.state_path.replace(aside)
            print(f"stripe_sim: could not load {self.state_path} ({exc}); moved to {aside}", file=sys.stderr)
            return state
        state.update(loaded)
        return state

    def _save(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(self._state), encoding="utf-8")
        # Atomic replace: a crash mid-write never leaves a half-written state file.
        os.replace(tmp, self.state_path)

    # ---
    # Webhook delivery

    def _post(self, payload: bytes, signature: str) -> tuple[int | None, str | None, str]:
        assert self.webhook_url is not None
        request = urllib.request.Request(
            self.webhook_url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with self._opener.open(request, timeout=self.delivery_timeout) as response:
                return response.status, None, response.read(500).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            snippet = exc.read(500).decode("utf-8", "replace") if exc.fp is not None else ""
            return exc.code, None, snippet
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}", ""

    def _record_attempt(self, event_id: str, status: int | None, error: str | None, snippet: str) -> None:
        with self._lock:
            record = self._state["deliveries"].setdefault(event_id, self._new_delivery(suppressed=False))
            record["attempts"].append({"at": int(time.time()), "status": status, "error": error, "response": snippet})
            del record["attempts"][:-50]
            record["status"] = status
            record["delivered"] = record["delivered"] or (status is not None and 200 <= status < 300)
            self._save()

    @staticmethod
    def _new_delivery(*, suppressed: bool) -> JsonDict:
        return {"attempts": [], "status": None, "delivered": False, "suppressed": suppressed}

    def _emit(
        self,
        type_: str,
        obj: JsonDict,
        req: _Request | None,
        *,
        deliver: bool,
        previous: JsonDict | None = None,
    ) -> str:
        """Record an event holding a snapshot of ``obj``; the caller delivers it after releasing the lock."""
        event_id = _new_id("evt_")
        data: JsonDict = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        api_request = req is not None and req.api_key is not None
        self._state["events"][event_id] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self._now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            # Only events caused by an API call carry its request; customer actions have none, as on Stripe.
            "request": {
                "id": req.request_id if api_request and req is not None else None,
                "idempotency_key": req.idempotency_key if api_request and req is not None else None,
            },
            "type": type_,
        }
        self._state["deliveries"][event_id] = self._new_delivery(suppressed=not deliver)
        return event_id

    # ---
    # Object helpers (callers hold the lock)

    def _get(self, collection: str, obj_id: str, param: str) -> JsonDict:
        obj: JsonDict | None = self._state[collection].get(obj_id)
        if obj is None:
            raise _missing(_OBJECT_NAMES[collection], obj_id, param)
        return obj

    def _lookup_any(self, obj_id: str) -> JsonDict | None:
        for prefix, collection in _ID_PREFIXES.items():
            if obj_id.startswith(prefix):
                found = self._state[collection].get(obj_id)
                return self._public(collection, found) if found is not None else None
        return None

    def _public(self, collection: str, obj: JsonDict) -> JsonDict:
        out = copy.deepcopy(obj)
        if collection == "events":
            delivered = self._state["deliveries"].get(obj["id"], {}).get("delivered", False)
            out["pending_webhooks"] = 0 if delivered else 1
        return out

    def _expand(self, body: JsonDict, paths: list[str]) -> JsonDict:
        out = copy.deepcopy(body)
        for path in paths:
            self._expand_path(out, path.split("."), path)
        return out

    def _expand_path(self, obj: JsonDict, parts: list[str], full: str) -> None:
        head, rest = parts[0], parts[1:]
        if obj.get("object") == "list" and head == "data":
            for item in obj.get("data", []):
                if rest:
                    self._expand_path(item, rest, full)
            return
        if obj.get("object") == "checkout.session" and head == "line_items":
            obj["line_items"] = self._line_items_list(obj["id"], {})
            return
        if head not in obj:
            raise StripeApiError(400, f"This property cannot be expanded ({full}).", param="expand")
        value = obj[head]
        if isinstance(value, str):
            expanded = self._lookup_any(value)
            if expanded is None:
                raise StripeApiError(400, f"This property cannot be expanded ({full}).", param="expand")
            obj[head] = value = expanded
        if rest and isinstance(value, dict):
            self._expand_path(value, rest, full)

    def _page(self, collection: str, items: list[JsonDict], params: Mapping[str, Any], url: str) -> JsonDict:
        """A Stripe list object over ``items`` (newest first) with limit / starting_after / ending_before."""
        limit = _int(params, "limit", minimum=1, maximum=100) or 10
        after = _str(params, "starting_after")
        before = _str(params, "ending_before")
        ids = [item["id"] for item in items]
        if after is not None and before is not None:
            raise StripeApiError(
                400,
                "You may only specify one of these parameters: ending_before, starting_after.",
                code="parameter_invalid",
            )
        if after is not None:
            if after not in ids:
                raise StripeApiError(400, f"No such object: '{after}'", code="resource_missing", param="starting_after")
            rest = items[ids.index(after) + 1 :]
            page, has_more = rest[:limit], len(rest) > limit
        elif before is not None:
            if before not in ids:
                raise StripeApiError(400, f"No such object: '{before}'", code="resource_missing", param="ending_before")
            rest = items[: ids.index(before)]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        return {
            "object": "list",
            "data": [self._public(collection, item) for item in page],
            "has_more": has_more,
            "url": url,
        }

    def _newest_first(self, collection: str) -> list[JsonDict]:
        # Insertion order is creation order; Stripe lists newest first.
        return list(reversed(list(self._state[collection].values())))

    # ---
    # Routes

    def _build_routes(self) -> list[_Route]:
        def r(method: str, pattern: str, handler: Handler, api: bool = True) -> _Route:
            return _Route(method, re.compile(pattern), handler, api)

        seg = r"([A-Za-z0-9_]+)"
        return [
            r("POST", r"/v1/products", self._product_create),
            r("GET", r"/v1/products", self._product_list),
            r("GET", rf"/v1/products/{seg}", self._product_retrieve),
            r("POST", rf"/v1/products/{seg}", self._product_update),
            r("POST", r"/v1/prices", self._price_create),
            r("GET", r"/v1/prices", self._price_list),
            r("GET", rf"/v1/prices/{seg}", self._price_retrieve),
            r("POST", rf"/v1/prices/{seg}", self._price_update),
            r("POST", r"/v1/checkout/sessions", self._session_create),
            r("GET", r"/v1/checkout/sessions", self._session_list),
            r("GET", rf"/v1/checkout/sessions/{seg}", self._session_retrieve),
            r("POST", rf"/v1/checkout/sessions/{seg}/expire", self._session_expire_api),
            r("GET", rf"/v1/checkout/sessions/{seg}/line_items", self._session_line_items),
            r("GET", rf"/v1/payment_intents/{seg}", self._simple_retrieve("payment_intents", "intent")),
            r("GET", rf"/v1/charges/{seg}", self._simple_retrieve("charges", "charge")),
            r("POST", r"/v1/refunds", self._refund_create_api),
            r("GET", r"/v1/refunds", self._refund_list),
            r("GET", rf"/v1/refunds/{seg}", self._simple_retrieve("refunds", "refund")),
            r("GET", rf"/v1/disputes/{seg}", self._simple_retrieve("disputes", "dispute")),
            r("GET", r"/v1/events", self._event_list),
            r("GET", rf"/v1/events/{seg}", self._simple_retrieve("events", "id")),
            # Simulator-only routes: what a customer, the bank or the Stripe dashboard would do.
            r("GET", rf"/checkout/{seg}", self._sim_checkout_page, api=False),
            r("POST", rf"/checkout/{seg}/pay", self._sim_pay, api=False),
            r("POST", rf"/checkout/{seg}/cancel", self._sim_cancel, api=False),
            r("POST", rf"/checkout/{seg}/async_result", self._sim_async_result, api=False),
            r("POST", rf"/checkout/{seg}/expire", self._sim_expire, api=False),
            r("POST", rf"/payment_intents/{seg}/refund", self._sim_refund, api=False),
            r("POST", rf"/payment_intents/{seg}/dispute", self._sim_dispute, api=False),
            r("POST", rf"/events/{seg}/resend", self._sim_resend, api=False),
            r("GET", rf"/events/{seg}", self._sim_event, api=False),
        ]

    def _simple_retrieve(self, collection: str, param: str) -> Handler:
        def handler(req: _Request, match: re.Match[str]) -> _Result:
            _check_keys(req.params, set())
            return _Result(200, self._public(collection, self._get(collection, match.group(1), param)))

        return handler

    # --- products

    def _product_create(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, _PRODUCT_FIELDS | {"id"})
        name = _required(_str(p, "name", max_len=250), "name")
        product_id = _str(p, "id", max_len=100) or _new_id("prod_", 14)
        if product_id in self._state["products"]:
            raise StripeApiError(
                400, f"Product already exists: {product_id}", code="resource_already_exists", param="id"
            )
        product = {
            "id": product_id,
            "object": "product",
            "active": _bool(p, "active") is not False,
            "created": req.now,
            "default_price": None,
            "description": _str(p, "description"),
            "images": [str(i) for i in _list(p, "images")],
            "livemode": False,
            "marketing_features": [],
            "metadata": _metadata(p.get("metadata")),
            "name": name,
            "package_dimensions": None,
            "shippable": _bool(p, "shippable"),
            "statement_descriptor": _str(p, "statement_descriptor", max_len=22),
            "tax_code": _str(p, "tax_code"),
            "type": "service",
            "unit_label": _str(p, "unit_label"),
            "updated": req.now,
            "url": _str(p, "url"),
        }
        self._state["products"][product_id] = product
        return _Result(200, copy.deepcopy(product))

    def _product_retrieve(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        return _Result(200, copy.deepcopy(self._get("products", m.group(1), "id")))

    def _product_update(self, req: _Request, m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, _PRODUCT_FIELDS | {"default_price"})
        product = self._get("products", m.group(1), "id")
        for key in ("name", "description", "statement_descriptor", "unit_label", "url", "tax_code"):
            if key in p:
                product[key] = _str(p, key)
        if product["name"] is None:
            raise StripeApiError(400, "You must provide a name.", code="parameter_missing", param="name")
        for key in ("active", "shippable"):
            if key in p:
                product[key] = _bool(p, key)
        if "images" in p:
            product["images"] = [str(i) for i in _list(p, "images")]
        if "default_price" in p:
            price_id = _str(p, "default_price")
            if price_id is not None:
                price = self._get("prices", price_id, "default_price")
                if price["product"] != product["id"]:
                    raise StripeApiError(400, "The default price must belong to this product.", param="default_price")
            product["default_price"] = price_id
        product["metadata"] = _merge_metadata(product["metadata"], p.get("metadata"))
        product["updated"] = req.now
        return _Result(200, copy.deepcopy(product))

    def _product_list(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, {"active", "ids", "created", "shippable", "url", "limit", "starting_after", "ending_before"})
        active = _bool(p, "active")
        ids = set(_list(p, "ids"))
        accept_created = _created_filter(p)
        items = [
            prod
            for prod in self._newest_first("products")
            if (active is None or prod["active"] == active)
            and (not ids or prod["id"] in ids)
            and accept_created(prod["created"])
        ]
        return _Result(200, self._page("products", items, p, "/v1/products"))

    # --- prices

    def _price_create(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(
            p,
            {
                "product",
                "product_data",
                "unit_amount",
                "currency",
                "lookup_key",
                "transfer_lookup_key",
                "metadata",
                "active",
                "nickname",
                "tax_behavior",
                "recurring",
                "unit_amount_decimal",
            },
        )
        if "recurring" in p or "unit_amount_decimal" in p:
            raise StripeApiError(
                400,
                "The simulator supports one-time prices with unit_amount only.",
                code="parameter_invalid",
                param="recurring" if "recurring" in p else "unit_amount_decimal",
            )
        product_id = _str(p, "product")
        if product_id is None and "product_data" in p:
            data = _dict(p, "product_data")
            _check_keys(data, {"name", "metadata", "active", "statement_descriptor", "unit_label"}, "product_data")
            sub = _Request(req.method, req.path, data, req.api_key, None, req.request_id, req.now)
            product_id = self._product_create(sub, _m).body["id"]  # type: ignore[index]
        product_id = _required(product_id, "product")
        product = self._get("products", product_id, "product")
        currency = _required(_str(p, "currency"), "currency").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeApiError(400, f"Invalid currency: {currency}", code="parameter_invalid", param="currency")
        unit_amount = _required(_int(p, "unit_amount", minimum=0, maximum=99_999_999), "unit_amount")
        lookup_key = _str(p, "lookup_key", max_len=200)
        if lookup_key is not None:
            self._claim_lookup_key(lookup_key, transfer=bool(_bool(p, "transfer_lookup_key")))
        price_id = _new_id("price_")
        price = {
            "id": price_id,
            "object": "price",
            "active": _bool(p, "active") is not False,
            "billing_scheme": "per_unit",
            "created": req.now,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": _metadata(p.get("metadata")),
            "nickname": _str(p, "nickname"),
            "product": product["id"],
            "recurring": None,
            "tax_behavior": _str(p, "tax_behavior") or "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        self._state["prices"][price_id] = price
        return _Result(200, copy.deepcopy(price))

    def _claim_lookup_key(self, lookup_key: str, *, transfer: bool, owner: str | None = None) -> None:
        holder = next(
            (pr for pr in self._state["prices"].values() if pr["lookup_key"] == lookup_key and pr["id"] != owner),
            None,
        )
        if holder is None:
            return
        if not transfer:
            raise StripeApiError(
                400,
                f"A price (`{holder['id']}`) already uses that lookup key. Pass "
                "`transfer_lookup_key=true` to move it to this price.",
                code="parameter_invalid",
                param="lookup_key",
            )
        holder["lookup_key"] = None

    def _price_retrieve(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        return _Result(200, copy.deepcopy(self._get("prices", m.group(1), "price")))

    def _price_update(self, req: _Request, m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, {"active", "metadata", "lookup_key", "transfer_lookup_key", "nickname", "tax_behavior"})
        price = self._get("prices", m.group(1), "price")
        if "lookup_key" in p:
            lookup_key = _str(p, "lookup_key", max_len=200)
            if lookup_key is not None:
                self._claim_lookup_key(lookup_key, transfer=bool(_bool(p, "transfer_lookup_key")), owner=price["id"])
            price["lookup_key"] = lookup_key
        if "active" in p:
            price["active"] = bool(_bool(p, "active"))
        if "nickname" in p:
            price["nickname"] = _str(p, "nickname")
        if "tax_behavior" in p:
            price["tax_behavior"] = _str(p, "tax_behavior") or "unspecified"
        price["metadata"] = _merge_metadata(price["metadata"], p.get("metadata"))
        return _Result(200, copy.deepcopy(price))

    def _price_list(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(
            p,
            {
                "active",
                "currency",
                "product",
                "type",
                "lookup_keys",
                "created",
                "limit",
                "starting_after",
                "ending_before",
            },
        )
        active = _bool(p, "active")
        currency = _str(p, "currency")
        product = _str(p, "product")
        type_ = _str(p, "type")
        lookup_keys = {str(k) for k in _list(p, "lookup_keys")}
        if len(lookup_keys) > 10:
            raise StripeApiError(
                400, "You may pass at most 10 lookup_keys.", code="parameter_invalid", param="lookup_keys"
            )
        accept_created = _created_filter(p)
        items = [
            pr
            for pr in self._newest_first("prices")
            if (active is None or pr["active"] == active)
            and (currency is None or pr["currency"] == currency.lower())
            and (product is None or pr["product"] == product)
            and (type_ is None or pr["type"] == type_)
            and (not lookup_keys or pr["lookup_key"] in lookup_keys)
            and accept_created(pr["created"])
        ]
        return _Result(200, self._page("prices", items, p, "/v1/prices"))

    # --- checkout sessions

    def _session_create(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(
            p,
            {
                "mode",
                "line_items",
                "client_reference_id",
                "customer_email",
                "customer",
                "metadata",
                "payment_intent_data",
                "success_url",
                "cancel_url",
                "expires_at",
                "payment_method_types",
                "locale",
                "submit_type",
                "allow_promotion_codes",
                "billing_address_collection",
                "customer_creation",
                "ui_mode",
            },
        )
        mode = _required(_str(p, "mode"), "mode")
        if mode != "payment":
            raise StripeApiError(
                400,
                f"The simulator supports mode=payment only (got {mode!r}).",
                code="parameter_invalid",
                param="mode",
            )
        ui_mode = _str(p, "ui_mode") or "hosted"
        if ui_mode != "hosted":
            raise StripeApiError(
                400, "The simulator supports ui_mode=hosted only.", code="parameter_invalid", param="ui_mode"
            )
        raw_items = p.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise StripeApiError(
                400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
            )
        line_items: list[JsonDict] = []
        currency: str | None = None
        for index, raw in enumerate(raw_items):
            name = f"line_items[{index}]"
            if not isinstance(raw, dict):
                raise StripeApiError(400, f"Invalid {name}", code="parameter_invalid", param=name)
            _check_keys(raw, {"price", "quantity"}, name)
            price_id = _required(_str(raw, "price", name=f"{name}[price]"), f"{name}[price]")
            price = self._state["prices"].get(price_id)
            if price is None:
                raise StripeApiError(
                    400, f"No such price: '{price_id}'", code="resource_missing", param=f"{name}[price]"
                )
            if not price["active"]:
                raise StripeApiError(
                    400,
                    f"The price `{price_id}` is not active.",
                    code="parameter_invalid",
                    param=f"{name}[price]",
                )
            quantity = _required(
                _int(raw, "quantity", name=f"{name}[quantity]", minimum=1, maximum=999_999),
                f"{name}[quantity]",
            )
            if currency is not None and price["currency"] != currency:
                raise StripeApiError(
                    400,
                    "All line items must use the same currency.",
                    code="parameter_invalid",
                    param=f"{name}[price]",
                )
            currency = price["currency"]
            amount = price["unit_amount"] * quantity
            product = self._state["products"].get(price["product"], {})
            line_items.append(
                {
                    "id": _new_id("li_"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price["currency"],
                    "description": product.get("name", ""),
                    "price": copy.deepcopy(price),
                    "quantity": quantity,
                }
            )
        total = sum(li["amount_total"] for li in line_items)
        expires_at = _int(p, "expires_at")
        if expires_at is None:
            expires_at = req.now + MAX_SESSION_TTL
        elif not req.now + MIN_SESSION_TTL <= expires_at <= req.now + MAX_SESSION_TTL:
            raise StripeApiError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                code="parameter_invalid",
                param="expires_at",
            )
        pi_data = _dict(p, "payment_intent_data")
        _check_keys(
            pi_data,
            {
                "metadata",
                "description",
                "receipt_email",
                "statement_descriptor",
                "statement_descriptor_suffix",
            },
            "payment_intent_data",
        )
        pi_metadata = _metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")
        methods = [str(m) for m in _list(p, "payment_method_types")] or ["card"]
        session_id = _new_id("cs_test_", 58)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _bool(p, "allow_promotion_codes"),
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": _str(p, "billing_address_collection"),
            "cancel_url": _str(p, "cancel_url"),
            "client_reference_id": _str(p, "client_reference_id", max_len=200),
            "client_secret": None,
            "created": req.now,
            "currency": currency,
            "custom_fields": [],
            "customer": _str(p, "customer"),
            "customer_creation": _str(p, "customer_creation") or "if_required",
            "customer_details": None,
            "customer_email": _str(p, "customer_email", max_len=800),
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": _str(p, "locale"),
            "metadata": _metadata(p.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_types": methods,
            "payment_status": "unpaid",
            "recovered_from": None,
            "status": "open",
            "submit_type": _str(p, "submit_type"),
            "subscription": None,
            "success_url": _str(p, "success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.public_base}{PREFIX}/checkout/{session_id}",
        }
        self._state["checkout_sessions"][session_id] = session
        self._state["session_private"][session_id] = {
            "line_items": line_items,
            "payment_intent_data": {
                "metadata": pi_metadata,
                "description": _str(pi_data, "description"),
                "receipt_email": _str(pi_data, "receipt_email"),
            },
        }
        return _Result(200, copy.deepcopy(session))

    def _session_retrieve(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        return _Result(200, copy.deepcopy(self._get("checkout_sessions", m.group(1), "session")))

    def _session_list(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(
            p,
            {
                "status",
                "created",
                "payment_intent",
                "customer",
                "customer_details",
                "payment_link",
                "subscription",
                "limit",
                "starting_after",
                "ending_before",
            },
        )
        status = _str(p, "status")
        if status is not None and status not in {"open", "complete", "expired"}:
            raise StripeApiError(
                400,
                "Invalid status: must be one of open, complete, or expired",
                code="parameter_invalid",
                param="status",
            )
        payment_intent = _str(p, "payment_intent")
        customer = _str(p, "customer")
        email = _str(_dict(p, "customer_details"), "email")
        accept_created = _created_filter(p)
        items = [
            s
            for s in self._newest_first("checkout_sessions")
            if (status is None or s["status"] == status)
            and (payment_intent is None or s["payment_intent"] == payment_intent)
            and (customer is None or s["customer"] == customer)
            and (email is None or (s["customer_details"] or {}).get("email") == email)
            and accept_created(s["created"])
        ]
        return _Result(200, self._page("checkout_sessions", items, p, "/v1/checkout/sessions"))

    def _line_items_list(self, session_id: str, params: Mapping[str, Any]) -> JsonDict:
        items = self._state["session_private"].get(session_id, {}).get("line_items", [])
        page = self._page("line_items", list(items), params, f"/v1/checkout/sessions/{session_id}/line_items")
        return page

    def _session_line_items(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"limit", "starting_after", "ending_before"})
        session = self._get("checkout_sessions", m.group(1), "session")
        return _Result(200, self._line_items_list(session["id"], req.params))

    def _session_expire_api(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        session = self._get("checkout_sessions", m.group(1), "session")
        event_id = self._expire_session(session, req, deliver=True)
        return _Result(200, copy.deepcopy(session), deliver=[event_id])

    def _expire_session(self, session: JsonDict, req: _Request | None, *, deliver: bool) -> str:
        if session["status"] != "open":
            raise StripeApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has '
                f'a status of "{session["status"]}".',
                code="parameter_invalid",
            )
        session["status"] = "expired"
        session["url"] = None
        return self._emit("checkout.session.expired", session, req, deliver=deliver)

    def _sweep_expired(self) -> list[str]:
        """Expire open sessions past ``expires_at`` (Stripe does so on its own); return events to deliver."""
        now = self._now()
        return [
            self._expire_session(s, None, deliver=True)
            for s in list(self._state["checkout_sessions"].values())
            if s["status"] == "open" and s["expires_at"] <= now
        ]

    # --- refunds

    def _refund_create_api(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, {"payment_intent", "charge", "amount", "reason", "metadata"})
        charge_id = _str(p, "charge")
        pi_id = _str(p, "payment_intent")
        if charge_id is None and pi_id is None:
            raise StripeApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
                param="charge",
            )
        if charge_id is not None:
            charge = self._get("charges", charge_id, "charge")
            if pi_id is not None and charge["payment_intent"] != pi_id:
                raise StripeApiError(
                    400,
                    "The charge does not belong to that payment_intent.",
                    code="parameter_invalid",
                    param="payment_intent",
                )
        else:
            charge = self._charge_of(self._get("payment_intents", str(pi_id), "payment_intent"))
        reason = _str(p, "reason")
        if reason is not None and reason not in {"duplicate", "fraudulent", "requested_by_customer"}:
            raise StripeApiError(400, f"Invalid reason: {reason}", code="parameter_invalid", param="reason")
        refund, event_ids = self._refund(
            charge,
            _int(p, "amount", minimum=1),
            req,
            reason=reason,
            metadata=_metadata(p.get("metadata")),
            deliver=True,
        )
        return _Result(200, copy.deepcopy(refund), deliver=event_ids)

    def _charge_of(self, intent: JsonDict) -> JsonDict:
        if intent["latest_charge"] is None:
            raise StripeApiError(
                400,
                f"PaymentIntent {intent['id']} has no charge to refund.",
                code="parameter_invalid",
                param="payment_intent",
            )
        return self._get("charges", intent["latest_charge"], "charge")

    def _refund(
        self,
        charge: JsonDict,
        amount: int | None,
        req: _Request | None,
        *,
        reason: str | None,
        metadata: dict[str, str],
        deliver: bool,
    ) -> tuple[JsonDict, list[str]]:
        if charge["status"] != "succeeded":
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                code="charge_not_refundable",
                param="charge",
            )
        if charge["disputed"]:
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                param="charge",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                param="charge",
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise StripeApiError(
                400,
                f"Refund amount ({_format_amount(amount, charge['currency'])}) is greater than unrefunded "
                f"amount on charge ({_format_amount(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = _new_id("re_")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": self._now(),
            "currency": charge["currency"],
            "destination_details": None,
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self._state["refunds"][refund_id] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        events = [
            self._emit("refund.created", refund, req, deliver=deliver),
            self._emit("charge.refunded", charge, req, deliver=deliver, previous=previous),
        ]
        return refund, events

    def _refund_list(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, {"payment_intent", "charge", "created", "limit", "starting_after", "ending_before"})
        pi_id = _str(p, "payment_intent")
        charge_id = _str(p, "charge")
        accept_created = _created_filter(p)
        items = [
            rf
            for rf in self._newest_first("refunds")
            if (pi_id is None or rf["payment_intent"] == pi_id)
            and (charge_id is None or rf["charge"] == charge_id)
            and accept_created(rf["created"])
        ]
        return _Result(200, self._page("refunds", items, p, "/v1/refunds"))

    # --- events

    def _event_list(self, req: _Request, _m: re.Match[str]) -> _Result:
        p = req.params
        _check_keys(p, {"type", "types", "created", "delivery_success", "limit", "starting_after", "ending_before"})
        type_ = _str(p, "type")
        types = {str(t) for t in _list(p, "types")}
        delivery_success = _bool(p, "delivery_success")
        accept_created = _created_filter(p)

        def type_matches(event_type: str) -> bool:
            # Stripe allows one trailing wildcard, e.g. type=checkout.session.*
            if type_ is None:
                return True
            if type_.endswith("*"):
                return event_type.startswith(type_[:-1])
            return event_type == type_

        items = [
            ev
            for ev in self._newest_first("events")
            if type_matches(ev["type"])
            and (not types or ev["type"] in types)
            and accept_created(ev["created"])
            and (
                delivery_success is None
                or self._state["deliveries"].get(ev["id"], {}).get("delivered", False) == delivery_success
            )
        ]
        return _Result(200, self._page("events", items, p, "/v1/events"))

    # ---
    # Simulator-only routes

    @staticmethod
    def _sim_flag(params: Mapping[str, Any], key: str, default: bool) -> bool:
        value = params.get(key, default)
        if not isinstance(value, bool):
            raise StripeApiError(400, f"`{key}` must be a boolean.", code="parameter_invalid", param=key)
        return value

    @staticmethod
    def _sim_amount(params: Mapping[str, Any]) -> int | None:
        value = params.get("amount")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise StripeApiError(
                400, "`amount` must be a positive integer (cents).", code="parameter_invalid", param="amount"
            )
        return value

    def _sim_session(self, session_id: str) -> JsonDict:
        return self._get("checkout_sessions", session_id, "session")

    def _sim_pay(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"async", "deliver"})
        is_async = self._sim_flag(req.params, "async", False)
        deliver = self._sim_flag(req.params, "deliver", True)
        session = self._sim_session(m.group(1))
        if session["status"] != "open":
            raise StripeApiError(
                400,
                f"This Checkout Session is {session['status']} and can no longer be paid.",
                code="parameter_invalid",
            )
        private = self._state["session_private"].get(session["id"], {})
        pi_data = private.get("payment_intent_data", {})
        email = session["customer_email"] or "customer@example.com"
        method_type = "us_bank_account" if is_async else "card"
        pi_id, charge_id, pm_id = _new_id("pi_"), _new_id("ch_"), _new_id("pm_")
        amount = session["amount_total"]
        intent = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0 if is_async else amount,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{pi_id}_secret_{_new_id('', 25)}",
            "confirmation_method": "automatic",
            "created": req.now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": pi_data.get("description"),
            "last_payment_error": None,
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": dict(pi_data.get("metadata", {})),
            "payment_method": pm_id,
            "payment_method_types": [method_type],
            "receipt_email": pi_data.get("receipt_email"),
            "statement_descriptor": None,
            "status": "processing" if is_async else "succeeded",
        }
        details: JsonDict = (
            {
                "type": "us_bank_account",
                "us_bank_account": {
                    "bank_name": "STRIPE TEST BANK",
                    "last4": "6789",
                    "account_holder_type": "individual",
                },
            }
            if is_async
            else {
                "type": "card",
                "card": {
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "funding": "credit",
                    "country": "US",
                },
            }
        )
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "captured": True,
            "created": req.now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": pi_data.get("description"),
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": None
            if is_async
            else {
                "network_status": "approved_by_network",
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": not is_async,
            "payment_intent": pi_id,
            "payment_method": pm_id,
            "payment_method_details": details,
            "receipt_email": intent["receipt_email"],
            "receipt_url": None,
            "refunded": False,
            "status": "pending" if is_async else "succeeded",
        }
        self._state["payment_intents"][pi_id] = intent
        self._state["charges"][charge_id] = charge
        session.update(
            {
                "status": "complete",
                "payment_status": "unpaid" if is_async else "paid",
                "payment_intent": pi_id,
                "customer_details": {
                    "address": None,
                    "email": email,
                    "name": None,
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                },
                "url": None,
            }
        )
        private["async_pending"] = is_async
        event_id = self._emit("checkout.session.completed", session, None, deliver=deliver)
        return _Result(
            200,
            {
                "event_id": event_id,
                "redirect": self._success_redirect(session),
                "payment_intent": pi_id,
                "charge": charge_id,
            },
            deliver=[event_id] if deliver else [],
            report_delivery=True,
        )

    @staticmethod
    def _success_redirect(session: JsonDict) -> str | None:
        url = session["success_url"]
        # Stripe substitutes this literal template variable, unencoded, in the success URL.
        return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None

    def _sim_cancel(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        session = self._sim_session(m.group(1))
        # Leaving the hosted page changes nothing on Stripe: the session stays open until it expires.
        return _Result(200, {"redirect": session["cancel_url"], "status": session["status"]})

    def _sim_async_result(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"succeeded", "deliver"})
        if not isinstance(req.params.get("succeeded"), bool):
            raise StripeApiError(400, "`succeeded` (boolean) is required.", code="parameter_missing", param="succeeded")
        succeeded = bool(req.params["succeeded"])
        deliver = self._sim_flag(req.params, "deliver", True)
        session = self._sim_session(m.group(1))
        private = self._state["session_private"].setdefault(session["id"], {})
        if session["status"] != "complete" or not private.get("async_pending"):
            raise StripeApiError(
                400,
                "This Checkout Session has no asynchronous payment awaiting a result.",
                code="parameter_invalid",
            )
        intent = self._state["payment_intents"][session["payment_intent"]]
        charge = self._state["charges"][intent["latest_charge"]]
        private["async_pending"] = False
        if succeeded:
            intent.update({"status": "succeeded", "amount_received": intent["amount"]})
            charge.update(
                {
                    "status": "succeeded",
                    "paid": True,
                    "outcome": {
                        "network_status": "approved_by_network",
                        "risk_level": "not_assessed",
                        "seller_message": "Payment complete.",
                        "type": "authorized",
                    },
                }
            )
            session["payment_status"] = "paid"
            type_ = "checkout.session.async_payment_succeeded"
        else:
            intent.update(
                {
                    "status": "requires_payment_method",
                    "last_payment_error": {
                        "code": "payment_method_provider_decline",
                        "message": "The bank declined the debit.",
                    },
                }
            )
            charge.update(
                {
                    "status": "failed",
                    "paid": False,
                    "failure_code": "insufficient_funds",
                    "failure_message": "The account has insufficient funds to cover this payment.",
                }
            )
            type_ = "checkout.session.async_payment_failed"
        event_id = self._emit(type_, session, None, deliver=deliver)
        return _Result(
            200,
            {"event_id": event_id, "payment_status": session["payment_status"]},
            deliver=[event_id] if deliver else [],
            report_delivery=True,
        )

    def _sim_expire(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"deliver"})
        deliver = self._sim_flag(req.params, "deliver", True)
        session = self._sim_session(m.group(1))
        event_id = self._expire_session(session, None, deliver=deliver)
        return _Result(
            200,
            {"event_id": event_id, "redirect": session["cancel_url"]},
            deliver=[event_id] if deliver else [],
            report_delivery=True,
        )

    def _sim_refund(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"amount", "deliver", "reason"})
        deliver = self._sim_flag(req.params, "deliver", True)
        intent = self._get("payment_intents", m.group(1), "payment_intent")
        reason = req.params.get("reason", "requested_by_customer")
        if reason not in {"duplicate", "fraudulent", "requested_by_customer"}:
            raise StripeApiError(400, f"Invalid reason: {reason}", code="parameter_invalid", param="reason")
        refund, event_ids = self._refund(
            self._charge_of(intent),
            self._sim_amount(req.params),
            None,
            reason=reason,
            metadata={},
            deliver=deliver,
        )
        return _Result(
            200,
            {"refund_id": refund["id"], "amount": refund["amount"], "event_ids": event_ids},
            deliver=event_ids if deliver else [],
            report_delivery=True,
        )

    def _sim_dispute(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, {"amount", "deliver", "reason"})
        deliver = self._sim_flag(req.params, "deliver", True)
        intent = self._get("payment_intents", m.group(1), "payment_intent")
        charge = self._charge_of(intent)
        if charge["status"] != "succeeded":
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has not succeeded and cannot be disputed.",
                code="parameter_invalid",
            )
        if charge["disputed"]:
            raise StripeApiError(400, f"Charge {charge['id']} is already disputed.", code="parameter_invalid")
        disputable = charge["amount"] - charge["amount_refunded"]
        amount = self._sim_amount(req.params) or disputable
        if amount > disputable:
            raise StripeApiError(
                400,
                f"Dispute amount exceeds the unrefunded amount ({disputable}).",
                code="parameter_invalid",
                param="amount",
            )
        dispute_id = _new_id("dp_")
        now = self._now()
        dispute = {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "balance_transactions": [],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "evidence": {},
            "evidence_details": {
                "due_by": now + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": intent["id"],
            "reason": str(req.params.get("reason", "fraudulent")),
            "status": "needs_response",
        }
        self._state["disputes"][dispute_id] = dispute
        charge["disputed"] = True
        event_id = self._emit("charge.dispute.created", dispute, None, deliver=deliver)
        return _Result(
            200,
            {"dispute_id": dispute_id, "event_id": event_id},
            deliver=[event_id] if deliver else [],
            report_delivery=True,
        )

    def _sim_resend(self, req: _Request, m: re.Match[str]) -> _Result:
        _check_keys(req.params, set())
        event = self._get("events", m.group(1), "id")
        return _Result(200, {"event_id": event["id"]}, deliver=[event["id"]], status_key="status")

    def _sim_event(self, req: _Request, m: re.Match[str]) -> _Result:
        event = self._public("events", self._get("events", m.group(1), "id"))
        event["_delivery"] = copy.deepcopy(self._state["deliveries"].get(event["id"]))
        return _Result(200, event)

    def _sim_checkout_page(self, req: _Request, m: re.Match[str]) -> _Result:
        session = self._state["checkout_sessions"].get(m.group(1))
        if session is None:
            page = _page_html("Checkout session not found", "<p class=note>This checkout link is invalid.</p>", "")
            return _Result(404, raw=page, content_type="text/html; charset=utf-8")
        items = self._state["session_private"].get(session["id"], {}).get("line_items", [])
        rows = "".join(
            f"<tr><td>{html.escape(li['description'] or 'Item')}"
            + (f"<span class=sub>{html.escape(li['price']['nickname'])}</span>" if li["price"].get("nickname") else "")
            + f"</td><td class=num>× {li['quantity']}</td>"
            f"<td class=num>{html.escape(_format_amount(li['amount_total'], li['currency']))}</td></tr>"
            for li in items
        )
        total = html.escape(_format_amount(session["amount_total"], session["currency"] or "usd"))
        email = session["customer_email"]
        is_open = session["status"] == "open"
        state_note = (
            ""
            if is_open
            else (
                f"<p class=note role=status>This checkout session is <strong>{html.escape(session['status'])}"
                "</strong> and can no longer be paid.</p>"
            )
        )
        disabled = "" if is_open else " disabled"
        body = f"""
<p class=merchant>Simulated Stripe Checkout · test mode</p>
<h1>Pay {total}</h1>
<table aria-label="Order summary"><tbody>{rows}</tbody>
<tfoot><tr><th scope=row colspan=2>Total due</th>
<td class=num><strong>{total}</strong></td></tr></tfoot></table>
{f"<p class=email>Receipt to <strong>{html.escape(email)}</strong></p>" if email else ""}
{state_note}
<div class=actions>
  <button type=button id=pay data-testid=pay class=primary{disabled} autofocus>Pay {total}</button>
  <button type=button id=pay-async data-testid=pay-async{disabled}
    aria-describedby=async-help>Pay (async, bank debit)</button>
  <p id=async-help class=help>Bank debits settle later: the payment stays pending until its result is
    simulated.</p>
  <button type=button id=cancel data-testid=cancel class=link>Cancel and return</button>
</div>
<p id=status class=status role=status aria-live=polite></p>
"""
        script = """
const base = __BASE__;
const statusEl = document.getElementById("status");
const buttons = Array.from(document.querySelectorAll("button"));
async function act(action, payload, doneText) {
  buttons.forEach((b) => { b.dataset.wasDisabled = b.disabled; b.disabled = true; });
  statusEl.textContent = "Processing…";
  try {
    const res = await fetch(base + "/" + action, {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error((data.error && data.error.message) || ("Request failed (" + res.status + ")"));
    }
    if (data.redirect) { location = data.redirect; return; }
    statusEl.textContent = doneText;
  } catch (err) {
    statusEl.textContent = err.message;
    buttons.forEach((b) => { b.disabled = b.dataset.wasDisabled === "true"; });
  }
}
document.getElementById("pay").addEventListener("click", () => act("pay", {}, "Payment complete."));
document.getElementById("pay-async").addEventListener("click",
  () => act("pay", {async: true}, "Payment submitted; awaiting the bank."));
document.getElementById("cancel").addEventListener("click", () => act("cancel", {}, "Checkout cancelled."));
""".replace("__BASE__", json.dumps(f"{PREFIX}/checkout/{session['id']}"))
        return _Result(
            200, raw=_page_html(f"Checkout – {total}", body, script), content_type="text/html; charset=utf-8"
        )


def _page_html(title: str, body: str, script: str) -> bytes:
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">
<meta name=viewport content="width=device-width, initial-scale=1">
<link rel=icon href="data:,">
<title>{html.escape(title)}</title>
<style>
  :root {{ color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
  body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f6f9fc;
         color: #1a1f36; }}
  main {{ width: min(420px, 92vw); background: #fff; border-radius: 12px; padding: 28px 28px 20px;
         box-shadow: 0 6px 24px rgba(50, 50, 93, .12), 0 2px 6px rgba(0, 0, 0, .06); }}
  .merchant {{ margin: 0 0 4px; color: #697386; font-size: 13px; letter-spacing: .02em; }}
  h1 {{ margin: 0 0 18px; font-size: 28px; }}
  table {{ width: 100%; border-collapse: collapse; margin-bottom: 12px; font-size: 15px; }}
  td, th {{ padding: 8px 0; border-bottom: 1px solid #e3e8ee; text-align: left; }}
  tfoot th, tfoot td {{ border-bottom: 0; }}
  .num {{ text-align: right; white-space: nowrap; }}
  .email, .help, .note {{ color: #4f566b; font-size: 14px; }}
  .actions {{ display: grid; gap: 10px; margin-top: 18px; }}
  button {{ font: inherit; font-size: 16px; padding: 12px 16px; border-radius: 8px; cursor: pointer;
           border: 1px solid #c1c9d2; background: #fff; color: #1a1f36; }}
  button.primary {{ background: #635bff; border-color: #635bff; color: #fff; font-weight: 600; }}
  button.link {{ border: 0; background: none; color: #635bff; text-decoration: underline; padding: 6px; }}
  button:focus-visible {{ outline: 3px solid #0a2540; outline-offset: 2px; }}
  button:disabled {{ opacity: .55; cursor: not-allowed; }}
  .help {{ margin: -4px 0 4px; }}
  .sub {{ display: block; color: #697386; font-size: 13px; }}
  .status {{ min-height: 1.4em; margin: 12px 0 0; font-weight: 600; }}
</style></head>
<body><main>{body}</main>
{f"<script>{script}</script>" if script else ""}
</body></html>
""".encode()


# ---
# Stand-alone serving (tests and `python -m local.stripe_sim`)


def make_request_handler(sim: StripeSimulator) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class that forwards every request to ``sim.handle``."""

    class StripeSimRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms each.
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, payload = sim.handle(self.command, split.path, split.query, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return StripeSimRequestHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the local Stripe simulator on its own.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=os.environ.get("STRIPE_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local_dev"))
    parser.add_argument("--state", type=Path, default=None, help="JSON file that keeps state across restarts")
    args = parser.parse_args(argv)
    sim = StripeSimulator(
        public_base=f"http://{args.host}:{args.port}",
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_path=args.state,
    )
    server = ThreadingHTTPServer((args.host, args.port), make_request_handler(sim))
    print(f"Stripe simulator: api base {sim.api_base}, webhooks to {args.webhook_url or '(nowhere)'}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
