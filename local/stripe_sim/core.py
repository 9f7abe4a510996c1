"""Routing, authentication, idempotency and rendering: what every simulated Stripe request goes through.

Routes are declared by the resource modules (``api(...)`` for Stripe's REST API under ``/v1``, form-encoded,
authenticated and idempotent; ``sim(...)`` for simulator-only actions, JSON bodies). Each route names the
top-level parameters it accepts, so unknown ones get Stripe's ``parameter_unknown`` before the handler runs.
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.stripe_sim.errors import JsonDict, StripeApiError, invalid, unrecognized
from local.stripe_sim.forms import check_keys, list_param, parse_form
from local.stripe_sim.state import Store, new_id

if TYPE_CHECKING:
    from local.stripe_sim.events import EventBus

API_VERSION = "2026-05-27.dahlia"
PREFIX = "/_stripe"
MAX_BODY_BYTES = 1 << 20
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
REQUEST_LOG_SIZE = 10_000
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_SEGMENT = r"([A-Za-z0-9_]+)"

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Request:
    method: str
    path: str
    params: JsonDict
    api_key: str | None
    idempotency_key: str | None
    request_id: str
    now: int
    stripe_version: str | None = None

    @property
    def via_api(self) -> bool:
        """Events caused by an API call carry its request id; customer or bank actions have none, as on Stripe."""
        return self.api_key is not None


@dataclass
class Result:
    status: int
    body: JsonDict | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    deliver: list[str] = field(default_factory=list)
    # Simulator routes report how each delivery went; status_key names a field set to the first one's status.
    report_delivery: bool = False
    status_key: str | None = None
    only_endpoint: str | None = None
    replayed: bool = False


@dataclass
class Context:
    """What handlers work with: the state, the event bus, and where the simulator is served."""

    store: Store
    bus: EventBus
    public_base: str

    def now(self) -> int:
        return self.store.now()


Handler = Callable[[Context, Request, "re.Match[str]"], Result]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # as Stripe's OpenAPI spec spells the path, e.g. "/v1/refunds/{refund}"
    handler: Handler
    api: bool  # True: Stripe REST (auth, idempotency, form bodies); False: simulator-only (JSON bodies)
    params: frozenset[str]
    pattern: re.Pattern[str]

    @property
    def operation(self) -> str:
        return f"{self.method} {self.template}"


def _route(method: str, template: str, handler: Handler, params: Iterable[str], api_route: bool) -> Route:
    regex = re.sub(r"\{[a-z_]+\}", lambda _m: _SEGMENT, re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
    return Route(method, template, handler, api_route, frozenset(params), re.compile(regex))


def api(method: str, template: str, handler: Handler, params: Iterable[str] = ()) -> Route:
    return _route(method, template, handler, params, True)


def sim(method: str, template: str, handler: Handler, params: Iterable[str] = ()) -> Route:
    return _route(method, template, handler, params, False)


class Dispatcher:
    """Turns ``(method, path, query, headers, body)`` into a routed, locked, persisted handler call."""

    def __init__(self, ctx: Context, routes: list[Route], before: list[Callable[[Context], list[str]]]) -> None:
        self.ctx = ctx
        self.routes = routes
        self.before = before
        self._log: collections.deque[JsonDict] = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self._log_lock = threading.Lock()

    def requests(self) -> list[JsonDict]:
        with self._log_lock:
            return [copy.deepcopy(r) for r in self._log]

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        method = method.upper()
        lower = {k.lower(): v for k, v in headers.items()}
        request_id = new_id("req_", 14)
        try:
            result = self._dispatch(method, path, query, lower, body, request_id)
        except StripeApiError as exc:
            result = Result(exc.status, exc.body())
        if path.startswith(PREFIX + "/v1/"):
            self._record(method, path[len(PREFIX) :], query, lower, body, result.status)
        statuses = [self.ctx.bus.deliver(event_id, only=result.only_endpoint) for event_id in result.deliver]
        if result.body is not None and result.report_delivery:
            result.body["deliveries"] = [
                {"event_id": event_id, "type": self.ctx.bus.type_of(event_id), **report}
                for event_id, report in zip(result.deliver, statuses, strict=True)
            ]
        if result.body is not None and result.status_key is not None:
            result.body[result.status_key] = statuses[0]["status"] if statuses else None
        return self._render(result, request_id)

    def _record(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, status: int
    ) -> None:
        kept = ("stripe-version", "idempotency-key", "content-type")
        entry = {
            "method": method,
            "path": path,
            "query": query,
            "body": body.decode("utf-8", "replace"),
            "headers": {k: headers[k] for k in kept if k in headers},
            "status": status,
        }
        with self._log_lock:
            self._log.append(entry)

    def _dispatch(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> Result:
        if not path.startswith(PREFIX + "/"):
            raise unrecognized(method, path)
        sub = path[len(PREFIX) :]
        for route in self.routes:
            match = route.pattern.fullmatch(sub)
            if match is None or route.method != method:
                continue
            if len(body) > MAX_BODY_BYTES:
                raise invalid("Request body too large.")
            if route.api:
                req = self._api_request(method, sub, query, headers, body, request_id)
            else:
                params = _json_body(body) if method == "POST" else {}
                req = Request(method, sub, params, None, None, request_id, self.ctx.now())
            with self.ctx.store.lock:
                pending = [event_id for hook in self.before for event_id in hook(self.ctx)]
                try:
                    result = self._with_idempotency(route, match, req) if route.api else self._call(route, match, req)
                finally:
                    self.ctx.store.save()
            result.deliver = pending + result.deliver
            return result
        raise unrecognized(method, sub)

    def _api_request(
        self, method: str, sub: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> Request:
        api_key = _authenticate(headers)
        version = headers.get("stripe-version")
        if version is not None and not _VERSION_RE.match(version):
            raise invalid(f"Invalid Stripe API version: {version}", code=None)
        if method == "POST":
            content_type = headers.get("content-type", "application/x-www-form-urlencoded")
            if body and "application/x-www-form-urlencoded" not in content_type:
                raise invalid("Invalid request: Stripe's API takes application/x-www-form-urlencoded bodies.")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid("Invalid request body: not UTF-8.", code=None) from None
            params = parse_form(text)
            if query:
                params = {**parse_form(query), **params}
        else:
            params = parse_form(query)
        idem_key = headers.get("idempotency-key") if method == "POST" else None
        return Request(method, sub, params, api_key, idem_key, request_id, self.ctx.now(), version)

    def _with_idempotency(self, route: Route, match: re.Match[str], req: Request) -> Result:
        if req.idempotency_key is None:
            return self._call(route, match, req)
        if len(req.idempotency_key) > 255:
            raise StripeApiError(
                400, "Idempotency keys can be at most 255 characters long.", code="idempotency_key_too_long"
            )
        store = self.ctx.store["idempotency"]
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
            return Result(saved["status"], copy.deepcopy(saved["body"]), replayed=True)
        result = self._call(route, match, req)
        # Stripe saves a result only once the endpoint started executing: a success or a card decline, never a
        # request that failed validation (that one may be retried with the same key once fixed).
        if (result.status < 400 or result.status == 402) and result.body is not None:
            store[scoped] = {
                "created": req.now,
                "fingerprint": fingerprint,
                "status": result.status,
                "body": copy.deepcopy(result.body),
            }
        return result

    def _call(self, route: Route, match: re.Match[str], req: Request) -> Result:
        try:
            check_keys(req.params, route.params)
            result = route.handler(self.ctx, req, match)
        except StripeApiError as exc:
            return Result(exc.status, exc.body())
        if route.api and result.body is not None and result.status == 200 and req.params.get("expand"):
            paths = [str(p) for p in list_param(req.params, "expand")]
            try:
                result.body = self.ctx.store.expand(result.body, paths)
            except StripeApiError as exc:
                return Result(exc.status, exc.body(), deliver=result.deliver)
        return result

    @staticmethod
    def _render(result: Result, request_id: str) -> Response:
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION, "Cache-Control": "no-store"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        if result.raw is not None:
            headers["Content-Type"] = result.content_type
            return result.status, headers, result.raw
        headers["Content-Type"] = "application/json"
        payload = json.dumps(result.body if result.body is not None else {}, indent=2).encode()
        return result.status, headers, payload


def _authenticate(headers: Mapping[str, str]) -> str:
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


def _json_body(body: bytes) -> JsonDict:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Invalid JSON body.") from None
    if not isinstance(parsed, dict):
        raise invalid("The JSON body must be an object.")
    return parsed


def sim_flag(params: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean in a simulator route's JSON body."""
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"`{key}` must be a boolean.", key)
    return value


def sim_amount(params: Mapping[str, Any]) -> int | None:
    value = params.get("amount")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise invalid("`amount` must be a positive integer (cents).", "amount")
    return value
