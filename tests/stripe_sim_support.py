"""Helpers for the Stripe simulator tests: a webhook receiver, a settable clock, and a simulator on a free port.

The fixtures built from these live in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import stripe

from local.stripe_sim import API_VERSION, StripeSimulator, make_request_handler
from tests.stripe_schema.validator import StripeSchemas

SECRET = "whsec_test_simulator_secret"
KEY = "sk_test_simulator_tests"


def client_for(api_base: str, key: str = KEY) -> stripe.StripeClient:
    """A StripeClient that speaks the simulator's API version, as the service is configured to."""
    return stripe.StripeClient(key, base_addresses={"api": api_base}, stripe_version=API_VERSION)


class Receiver:
    """A webhook endpoint that records each delivery and answers the queued statuses (then 200)."""

    def __init__(self, path: str = "/webhooks/stripe") -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.queue: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.queue.pop(0) if receiver.queue else 200
                payload = b'{"received": true}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.deliveries]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@dataclass
class Exchange:
    """One HTTP request to the simulator and its answer, as seen on the wire."""

    method: str
    path: str
    query: str
    status: int
    body: bytes


class Recorder:
    """Sits between the HTTP server and the simulator and keeps every exchange (for the contract test)."""

    def __init__(self, sim: StripeSimulator) -> None:
        self.sim = sim
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Any:
        status, out_headers, payload = self.sim.handle(method, path, query, headers, body)
        with self.lock:
            self.exchanges.append(Exchange(method, path, query, status, payload))
        return status, out_headers, payload


@dataclass
class SimStack:
    sim: StripeSimulator
    base: str
    receiver: Receiver
    clock: Clock
    recorder: Recorder
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    @property
    def api_base(self) -> str:
        return self.sim.api_base

    def client(self, key: str = KEY) -> stripe.StripeClient:
        return client_for(self.api_base, key)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def sim_post(self, path: str, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload or {}).encode()
        status, _, raw = self.request("POST", "/_stripe" + path, body, {"Content-Type": "application/json"})
        return status, json.loads(raw)

    def close(self) -> None:
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        self.receiver.close()


def start_sim(
    receiver: Receiver,
    clock: Clock,
    state_path: Path | None = None,
    webhook_url: str | None = None,
    signing_clock: Callable[[], float] = time.time,
) -> tuple[StripeSimulator, ThreadingHTTPServer, Recorder]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sim = StripeSimulator(
        public_base=base,
        webhook_url=webhook_url or receiver.url,
        webhook_secret=SECRET,
        state_path=state_path,
        retry_backoff=0.01,
        clock=clock,
        signing_clock=signing_clock,
    )
    recorder = Recorder(sim)
    server.RequestHandlerClass = make_request_handler(recorder)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return sim, server, recorder


def new_stack(signing_clock: Callable[[], float] = time.time) -> SimStack:
    receiver, clock = Receiver(), Clock()
    sim, server, recorder = start_sim(receiver, clock, signing_clock=signing_clock)
    return SimStack(sim=sim, base=sim.public_base, receiver=receiver, clock=clock, recorder=recorder,
                    servers=[server])


def verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> Any:
    return stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)


def new_session(stack: SimStack, price_id: str, **extra: Any) -> Any:
    meta = {"user_id": "user-1", "bundle": "standard", "credits": "2000"}
    params: Any = {
        "mode": "payment",
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": "user-1",
        "metadata": meta,
        "success_url": "http://shop.test/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancelled",
        **extra,
        # Extra payment_intent_data adds to the metadata rather than replacing it.
        "payment_intent_data": {"metadata": dict(meta), **extra.get("payment_intent_data", {})},
    }
    return stack.client().v1.checkout.sessions.create(params=params)


def paid_session(stack: SimStack, prices: dict[str, str], **pay: Any) -> tuple[Any, str]:
    session = new_session(stack, prices["standard"])
    status, out = stack.sim_post(f"/checkout/{session.id}/pay", pay or None)
    assert status == 200, out
    return session, out["payment_intent"]


def event_ids_of(out: dict[str, Any], type_: str) -> list[str]:
    """The ids of one type among a simulator route's reported deliveries."""
    return [d["event_id"] for d in out["deliveries"] if d["type"] == type_]


# --- checking a stack's traffic against Stripe's schemas -----------------------------------------------

_SCHEMAS: list[StripeSchemas] = []


def schemas() -> StripeSchemas:
    if not _SCHEMAS:
        _SCHEMAS.append(StripeSchemas())
    return _SCHEMAS[0]


@dataclass
class Report:
    responses: int = 0
    objects: Counter[str] = field(default_factory=Counter)
    events: int = 0
    deliveries: int = 0
    requests: int = 0
    event_types: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"Stripe contract ({schemas().version}): {self.responses} responses holding "
            f"{sum(self.objects.values())} objects, {self.events} events ({self.deliveries} deliveries), "
            f"{self.requests} requests checked; {len(self.violations)} violations"
        )


def _count_objects(node: Any, counter: Counter[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("object"), str):
            counter[node["object"]] += 1
        for value in node.values():
            _count_objects(value, counter)
    elif isinstance(node, list):
        for value in node:
            _count_objects(value, counter)


def check_traffic(
    stack: SimStack, *, endpoints: dict[str, tuple[Receiver, str]] | None = None, requests: bool = False
) -> Report:
    """Validate what the simulator answered (API responses and errors) and sent (every recorded event, every
    delivery and its signature); with ``requests``, also every request it received."""
    s, report = schemas(), Report()
    for ex in stack.recorder.exchanges:
        sub = ex.path.removeprefix("/_stripe")
        body = json.loads(ex.body) if ex.body[:1] in (b"{", b"[") else None
        if sub.startswith("/v1/"):
            report.responses += 1
            _count_objects(body, report.objects)
            report.violations += s.check_response(ex.method, sub, ex.status, body)
        elif ex.status >= 400 and isinstance(body, dict) and "error" in body:
            # Simulator routes answer Stripe's error shape too (e.g. a declined card on the Checkout page).
            report.responses += 1
            report.violations += s.check_response(ex.method, sub, ex.status, body)
    for event in stack.sim.events():
        report.events += 1
        report.event_types.add(event["type"])
        report.violations += s.check_event(event, "recorded event")
    receivers = [(stack.receiver, SECRET, "default webhook")]
    receivers += [(r, secret, we) for we, (r, secret) in (endpoints or {}).items()]
    for receiver, secret, where in receivers:
        for headers, payload in receiver.deliveries:
            report.deliveries += 1
            report.violations += s.check_signature(payload, headers["stripe-signature"], secret, where)
            report.violations += s.check_event(json.loads(payload), f"delivered to {where}")
    if requests:
        received = stack.sim.requests_received()
        report.requests = len(received)
        report.violations += s.check_received(received)
    return report
