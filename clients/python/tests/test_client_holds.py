"""The hold as a context manager: capture or release inside; released on exit otherwise and when the block raises."""

from __future__ import annotations

import httpx
import pytest
from client_support import CAPTURE, HOLD, RELEASE, err, ok, sync_client

import credits_client as cc


def paths(rec) -> list[str]:
    return [r.url.path for r in rec.requests]


def test_capture_inside_the_block_spends_and_nothing_is_released_on_exit() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(CAPTURE))
    with client.hold(100, ttl_seconds=60) as h:
        result = h.capture(37)
    assert (result.captured, h.status, h.captured) == (37, "captured", 37)
    assert paths(rec) == ["/credits/holds", "/credits/holds/h_1/capture"]
    assert rec.body() == {"amount": 37}


def test_release_inside_the_block_is_not_repeated_on_exit() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(RELEASE))
    with client.hold(100) as h:
        h.release()
    assert paths(rec) == ["/credits/holds", "/credits/holds/h_1/release"] and h.status == "released"


def test_leaving_the_block_without_resolving_releases_the_hold() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(RELEASE))
    with client.hold(100) as h:
        pass
    assert paths(rec) == ["/credits/holds", "/credits/holds/h_1/release"] and h.status == "released"


def test_an_exception_in_the_block_releases_the_hold_and_propagates() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(RELEASE))
    with pytest.raises(ZeroDivisionError):
        with client.hold(100):
            raise ZeroDivisionError("render failed")
    assert paths(rec)[-1] == "/credits/holds/h_1/release"


def test_a_failing_release_does_not_mask_the_block_exception() -> None:
    client, rec = sync_client(ok(HOLD, 201), err(503, "temporarily_unavailable"), max_retries=1)
    with pytest.raises(KeyError) as info:
        with client.hold(100):
            raise KeyError("job failed")
    assert any("releasing hold h_1 failed" in n for n in info.value.__notes__)
    assert paths(rec).count("/credits/holds/h_1/release") == 2  # the release was retried, then gave up


def test_a_failing_release_on_a_clean_exit_is_raised() -> None:
    client, _ = sync_client(ok(HOLD, 201), httpx.ConnectError("down"), max_retries=0)
    with pytest.raises(cc.ServiceUnavailable):
        with client.hold(100):
            pass


def test_a_hold_that_expired_meanwhile_needs_no_release_and_raises_nothing() -> None:
    client, rec = sync_client(ok(HOLD, 201), err(409, "hold_expired"))
    with client.hold(100) as h:
        pass
    assert h.status == "expired" and paths(rec)[-1] == "/credits/holds/h_1/release"


def test_capture_twice_is_refused_without_a_request() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(CAPTURE))
    with client.hold(100) as h:
        h.capture(37)
        with pytest.raises(cc.HoldNotPending):
            h.capture(1)
        with pytest.raises(cc.HoldNotPending):
            h.release()
    assert len(rec.requests) == 2


def test_capture_above_the_hold_amount_is_refused_without_a_request_and_then_released() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok(RELEASE))
    with pytest.raises(cc.InvalidRequest):
        with client.hold(100) as h:
            h.capture(101)
    assert paths(rec) == ["/credits/holds", "/credits/holds/h_1/release"]


def test_a_capture_that_fails_leaves_the_hold_to_be_released_on_exit() -> None:
    client, rec = sync_client(ok(HOLD, 201), httpx.ConnectError("down"), httpx.ConnectError("down"),
                              ok(RELEASE), max_retries=1)
    with pytest.raises(cc.ServiceUnavailable):
        with client.hold(100) as h:
            h.capture(5)
    assert paths(rec)[-1] == "/credits/holds/h_1/release" and h.status == "released"


def test_insufficient_credits_for_the_hold_raises_before_the_block_runs() -> None:
    client, rec = sync_client(err(402, "insufficient_credits", available=2, required=100))
    ran = False
    with pytest.raises(cc.InsufficientCredits):
        with client.hold(100):
            ran = True
    assert not ran and len(rec.requests) == 1


def test_a_replayed_hold_that_is_already_captured_is_left_alone() -> None:
    client, rec = sync_client(ok({**HOLD, "status": "captured", "replayed": True}))
    with client.hold(100, idempotency_key="job-1") as h:
        assert h.replayed and h.status == "captured"
    assert len(rec.requests) == 1


def test_a_hold_can_be_used_without_with() -> None:
    client, rec = sync_client(ok(HOLD, 201), ok({**HOLD, "status": "pending"}), ok(CAPTURE))
    h = client.hold(100)
    assert h.refresh().status == "pending"
    h.capture()
    assert rec.body() == {} and h.status == "captured"
