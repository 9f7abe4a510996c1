"""The fault proxy itself, against a tiny HTTP upstream: each fault kind does what the suite relies on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from .proxy import FaultProxy
from .schedule import FAULT_KINDS, EveryNth, Fault, Passthrough, RandomFaults, Scripted


class Upstream:
    """Answers every POST with a JSON body naming the request number; counts what reached it."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with upstream.lock:
                    upstream.seen.append(body)
                    n = len(upstream.seen)
                out = (b'{"n": %d, "pad": "' % n) + b"x" * 200 + b'"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.server.shutdown()
    up.server.server_close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", upstream.port), latency=(0.25, 0.25)) as p:
        yield p


def post(session: requests.Session, proxy: FaultProxy, body: bytes = b"{}",
         target: str = "DynamoDB_20120810.TransactWriteItems") -> requests.Response:
    return session.post(proxy.endpoint + "/", data=body, timeout=5, headers={"X-Amz-Target": target})


def test_pass_through_keeps_one_connection_for_several_requests(proxy, upstream):
    with requests.Session() as s:
        answers = [post(s, proxy, b'{"i": %d}' % i).json()["n"] for i in range(3)]
    assert answers == [1, 2, 3]
    assert upstream.seen == [b'{"i": 0}', b'{"i": 1}', b'{"i": 2}']
    counts = proxy.counts()
    assert (counts.requests, counts.total) == (3, 0)


def test_reset_before_send_never_reaches_the_upstream(proxy, upstream):
    proxy.schedule = Scripted([Fault.RESET_BEFORE_SEND])
    with requests.Session() as s, pytest.raises(requests.ConnectionError):
        post(s, proxy)
    assert upstream.count() == 0
    assert proxy.counts().injected == {Fault.RESET_BEFORE_SEND: 1}


def test_drop_after_send_reaches_the_upstream_but_the_client_hears_nothing(proxy, upstream):
    proxy.schedule = Scripted([Fault.DROP_AFTER_SEND])
    with requests.Session() as s:
        with pytest.raises(requests.ConnectionError):
            post(s, proxy)
        assert upstream.count() == 1
        assert post(s, proxy).json()["n"] == 2  # the next request passes on a new connection


def test_truncated_response_is_incomplete_for_the_client_and_applied_upstream(proxy, upstream):
    proxy.schedule = Scripted([Fault.TRUNCATE_RESPONSE])
    with requests.Session() as s, pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        post(s, proxy)
    assert upstream.count() == 1


def test_duplicate_request_reaches_the_upstream_twice_and_answers_once(proxy, upstream):
    proxy.schedule = Scripted([Fault.DUPLICATE_REQUEST])
    with requests.Session() as s:
        assert post(s, proxy, b'{"once": 1}').json()["n"] == 1
    deadline = time.monotonic() + 5
    while upstream.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream.seen == [b'{"once": 1}', b'{"once": 1}']


def test_latency_delays_the_exchange_without_failing_it(proxy, upstream):
    proxy.schedule = Scripted([Fault.LATENCY])
    with requests.Session() as s:
        started = time.monotonic()
        assert post(s, proxy).status_code == 200
        assert time.monotonic() - started >= 0.25
    assert proxy.counts().injected == {Fault.LATENCY: 1}


def test_schedules_fault_only_the_operations_they_name(proxy, upstream):
    proxy.schedule = Scripted([Fault.RESET_BEFORE_SEND], operations={"TransactWriteItems"})
    with requests.Session() as s:
        assert post(s, proxy, target="DynamoDB_20120810.GetItem").status_code == 200
        with pytest.raises(requests.ConnectionError):
            post(s, proxy, target="DynamoDB_20120810.TransactWriteItems")
    assert proxy.counts().by_operation == {(Fault.RESET_BEFORE_SEND, "TransactWriteItems"): 1}


def test_every_nth_and_scripted_schedules_are_exact():
    nth = EveryNth(3, Fault.DROP_AFTER_SEND)
    assert [nth.decide("X") for _ in range(6)] == [Fault.PASS, Fault.PASS, Fault.DROP_AFTER_SEND] * 2
    script = Scripted([Fault.LATENCY, Fault.RESET_BEFORE_SEND])
    assert [script.decide("X") for _ in range(3)] == [Fault.LATENCY, Fault.RESET_BEFORE_SEND, Fault.PASS]
    assert Passthrough().decide("X") is Fault.PASS


def test_random_schedule_is_seeded_starts_with_every_kind_and_keeps_its_rates():
    probabilities = {Fault.DROP_AFTER_SEND: 0.2, Fault.LATENCY: 0.1}
    first = RandomFaults(probabilities, seed=5)
    second = RandomFaults(probabilities, seed=5)
    draws = [first.decide("X") for _ in range(4000)]
    assert draws == [second.decide("X") for _ in range(4000)]
    assert {draws[0], draws[RandomFaults.SPACING]} == {Fault.DROP_AFTER_SEND, Fault.LATENCY}
    share = {k: draws.count(k) / len(draws) for k in FAULT_KINDS}
    assert 0.17 < share[Fault.DROP_AFTER_SEND] < 0.23 and 0.08 < share[Fault.LATENCY] < 0.12
    assert share[Fault.RESET_BEFORE_SEND] == 0
    with pytest.raises(ValueError):
        RandomFaults({Fault.LATENCY: 0.7, Fault.DROP_AFTER_SEND: 0.5}, seed=1)
