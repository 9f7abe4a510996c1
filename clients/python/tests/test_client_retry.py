"""The retry policy: connection errors, 429 and 5xx only; one idempotency key per logical call; bounded jitter."""

from __future__ import annotations

import random

import httpx
import pytest
from client_support import BALANCE, CONSUME, HOLD, err, ok, sync_client

import credits_client as cc


@pytest.mark.parametrize("failure", [
    httpx.ConnectError("connection refused"),
    httpx.ReadError("connection reset by peer"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.ReadTimeout("timed out"),
    httpx.ConnectTimeout("timed out"),
    err(500, "internal_error"),
    err(502, "bad_gateway"),
    err(503, "temporarily_unavailable"),
    err(504, "gateway_timeout"),
    err(429, "too_many_requests"),
], ids=lambda f: type(f).__name__ if isinstance(f, Exception) else f"HTTP {f.status_code}")
def test_transient_failures_are_retried_with_the_same_idempotency_key(failure) -> None:
    client, rec = sync_client(failure, failure, ok(CONSUME))
    result = client.consume(5)
    assert result.transaction_id == "tx_1"
    keys = rec.keys()
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1
    assert [rec.body(i) for i in range(3)] == [{"amount": 5}] * 3
    assert len(rec.sleeps) == 2


@pytest.mark.parametrize(("status", "code"), [
    (400, "invalid_request"), (401, "unauthorized"), (402, "insufficient_credits"), (403, "forbidden"),
    (404, "not_found"), (409, "idempotency_key_reused"), (409, "hold_not_pending"), (413, "payload_too_large"),
    (422, "unprocessable"),
])
def test_a_4xx_is_never_retried(status, code) -> None:
    client, rec = sync_client(err(status, code, available=0, required=5), ok(CONSUME))
    with pytest.raises(cc.CreditsError):
        client.consume(5)
    assert len(rec.requests) == 1 and rec.sleeps == []


def test_each_logical_call_gets_its_own_key() -> None:
    client, rec = sync_client(ok(CONSUME))
    client.consume(1)
    client.consume(1)
    assert rec.keys()[0] != rec.keys()[1]


def test_a_caller_key_is_sent_on_every_attempt() -> None:
    client, rec = sync_client(err(503, "x"), ok(CONSUME))
    client.consume(1, idempotency_key="order-42")
    assert rec.keys() == ["order-42", "order-42"]


def test_giving_up_raises_service_unavailable_with_the_key_for_a_later_retry() -> None:
    client, rec = sync_client(httpx.ConnectError("refused"), max_retries=2)
    with pytest.raises(cc.ServiceUnavailable) as info:
        client.consume(5)
    assert len(rec.requests) == 3 and len(rec.sleeps) == 2
    assert info.value.idempotency_key == rec.keys()[0]
    assert (info.value.status, info.value.code) == (None, "connection_error")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_a_timeout_on_every_attempt_is_reported_as_a_timeout() -> None:
    client, _ = sync_client(httpx.ReadTimeout("slow"), max_retries=1)
    with pytest.raises(cc.ServiceUnavailable) as info:
        client.balance()
    assert info.value.code == "timeout"


def test_a_5xx_on_every_attempt_raises_the_last_answer() -> None:
    client, rec = sync_client(err(503, "temporarily_unavailable", "Try again."), max_retries=2)
    with pytest.raises(cc.ServiceUnavailable) as info:
        client.balance()
    assert len(rec.requests) == 3 and info.value.status == 503 and info.value.message == "Try again."


def test_max_retries_zero_sends_once() -> None:
    client, rec = sync_client(err(500, "internal_error"), max_retries=0)
    with pytest.raises(cc.ServiceUnavailable):
        client.balance()
    assert len(rec.requests) == 1


def test_a_transport_error_that_would_repeat_is_not_retried() -> None:
    client, rec = sync_client(httpx.UnsupportedProtocol("no scheme"))
    with pytest.raises(cc.CreditsError) as info:
        client.balance()
    assert len(rec.requests) == 1 and info.value.code == "transport_error"


def test_reads_and_hold_captures_retry_too() -> None:
    client, rec = sync_client(err(502, "x"), ok(BALANCE), ok(HOLD, 201), err(500, "x"),
                              ok({"hold_id": "h_1", "status": "captured", "captured": 1, "released": 99,
                                  "balance": 1, "available": 1}))
    assert client.balance().available == 100
    with client.hold(100) as h:
        h.capture(1)
    capture_keys = [r.headers.get("idempotency-key") for r in rec.requests if r.url.path.endswith("/capture")]
    assert len(capture_keys) == 2 and len(set(capture_keys)) == 1


def test_backoff_is_exponential_full_jitter_and_bounded() -> None:
    policy = cc.RetryPolicy(max_retries=10, base_delay=0.1, max_delay=1.0, rng=random.Random(7))
    for retry in range(10):
        ceiling = min(1.0, 0.1 * 2 ** retry)
        draws = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert len(set(draws)) > 150  # jittered, not a fixed schedule
        assert max(draws) > ceiling * 0.8  # and it uses the whole window
    assert policy.delay(10_000) <= 1.0


def test_sleeps_between_attempts_stay_within_the_window() -> None:
    client, rec = sync_client(err(503, "x"), err(503, "x"), err(503, "x"), ok(BALANCE))
    client.balance()
    defaults = cc.RetryPolicy()
    assert len(rec.sleeps) == 3
    for retry, slept in enumerate(rec.sleeps):
        assert 0 <= slept <= min(defaults.max_delay, defaults.base_delay * 2 ** retry)


def test_retry_after_is_honoured_up_to_max_delay() -> None:
    policy = cc.RetryPolicy(base_delay=0.01, max_delay=2.0, rng=random.Random(1))
    assert policy.delay(0, "1.5") >= 1.5
    assert policy.delay(0, "60") <= 0.01  # a hint beyond max_delay is not followed (the call would hang)
    assert policy.delay(0, "Wed, 21 Oct 2026 07:28:00 GMT") <= 0.01
    client, rec = sync_client(httpx.Response(429, headers={"Retry-After": "1"}, json={}), ok(BALANCE))
    client.balance()
    assert rec.sleeps and rec.sleeps[0] >= 1


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        cc.RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        cc.RetryPolicy(base_delay=3, max_delay=1)
    with pytest.raises(cc.InvalidRequest):
        cc.CreditsClient("http://x", token="t", max_retries=1, retry=cc.RetryPolicy())


def test_timeout_is_applied_per_attempt() -> None:
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return ok(BALANCE)

    client, _ = sync_client(answer, timeout=2.5)
    client.balance()
    assert seen == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]
