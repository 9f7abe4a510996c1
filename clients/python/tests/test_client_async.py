"""AsyncCreditsClient: the same methods and signatures as CreditsClient, the same requests, the same results."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest
from client_support import (
    CAPTURE,
    CONSUME,
    ENTRY,
    GRANT,
    HOLD,
    RELEASE,
    TOKEN,
    async_client,
    err,
    ok,
    run_async,
    sync_client,
)
from test_client_methods import CASES

import credits_client as cc

SYNC_ONLY = {"close", "__enter__", "__exit__"}
ASYNC_ONLY = {"aclose", "__aenter__", "__aexit__"}


def public(cls: type) -> dict[str, Any]:
    return {n: getattr(cls, n) for n in dir(cls) if not n.startswith("_") or n in SYNC_ONLY | ASYNC_ONLY}


def params(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(("sync_cls", "async_cls"), [(cc.CreditsClient, cc.AsyncCreditsClient),
                                                    (cc.Hold, cc.AsyncHold)])
def test_async_classes_have_the_same_methods_and_parameters(sync_cls: type, async_cls: type) -> None:
    sync_methods = {n for n in public(sync_cls) if n not in SYNC_ONLY}
    async_methods = {n for n in public(async_cls) if n not in ASYNC_ONLY}
    assert sync_methods == async_methods
    for name in sync_methods:
        s, a = getattr(sync_cls, name), getattr(async_cls, name)
        if isinstance(s, property):
            continue
        assert params(s) == params(a), name
        if name not in ("history", "grants", "hold"):
            assert inspect.iscoroutinefunction(a), name
    assert sync_cls is cc.Hold or params(sync_cls.__init__)[:2] == params(async_cls.__init__)[:2]


def _comparable(result: Any) -> Any:
    if isinstance(result, cc.Hold | cc.AsyncHold):
        return (result.hold_id, result.amount, result.status, result.expires_at, result.available, result.replayed)
    return result


def _request(r: httpx.Request) -> tuple[Any, ...]:
    headers = {k: v for k, v in r.headers.items() if k not in ("idempotency-key", "user-agent")}
    return r.method, str(r.url), r.content, headers, "idempotency-key" in r.headers


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_async_method_sends_the_same_request_and_returns_the_same_result(case: Any) -> None:
    _, call, answer, *_ = case
    status = 201 if case[4] == "/credits/holds" else 200
    sync, srec = sync_client(ok(answer, status))
    aclient, arec = async_client(ok(answer, status))
    expected = call(sync)

    async def run() -> Any:
        async with aclient:
            return await call(aclient)

    assert _comparable(run_async(run())) == _comparable(expected)
    assert [_request(r) for r in arec.requests] == [_request(r) for r in srec.requests]


def test_async_history_and_grants_iterate_over_every_page() -> None:
    client, rec = async_client(ok({"items": [ENTRY], "next_cursor": "c"}),
                               ok({"items": [{**ENTRY, "id": "e2"}], "next_cursor": None}),
                               ok({"grants": [GRANT], "next_cursor": None}))

    async def run() -> tuple[list[str], list[str]]:
        entries = [e.id async for e in client.history()]
        grants = [g.grant_id async for g in client.grants()]
        return entries, grants

    assert run_async(run()) == (["e1", "e2"], ["g_1"])
    assert dict(rec.requests[1].url.params)["cursor"] == "c"


def test_async_retries_transient_failures_with_one_key_and_never_a_4xx() -> None:
    client, rec = async_client(httpx.ReadError("reset"), err(503, "x"), ok(CONSUME))
    assert run_async(client.consume(5)).transaction_id == "tx_1"
    assert len(set(rec.keys())) == 1 and len(rec.keys()) == 3 and len(rec.sleeps) == 2

    client, rec = async_client(err(402, "insufficient_credits", available=1, required=5), ok(CONSUME))
    with pytest.raises(cc.InsufficientCredits):
        run_async(client.consume(5))
    assert len(rec.requests) == 1 and rec.sleeps == []


def test_async_hold_context_manager_captures_or_releases() -> None:
    client, rec = async_client(ok(HOLD, 201), ok(CAPTURE), ok(HOLD, 201), ok(RELEASE), ok(HOLD, 201), ok(RELEASE))

    async def run() -> None:
        async with client.hold(100, ttl_seconds=60) as h:
            await h.capture(37)
        assert h.status == "captured"
        async with client.hold(100) as h2:
            pass
        assert h2.status == "released"
        with pytest.raises(RuntimeError):
            async with client.hold(100):
                raise RuntimeError("render failed")

    run_async(run())
    assert [r.url.path.rsplit("/", 1)[-1] for r in rec.requests] == ["holds", "capture", "holds", "release",
                                                                     "holds", "release"]


def test_awaiting_hold_gives_a_hold_that_is_also_an_async_context_manager() -> None:
    client, rec = async_client(ok(HOLD, 201), ok(RELEASE))

    async def run() -> cc.AsyncHold:
        h = await client.hold(100)
        async with h:
            pass
        return h

    assert run_async(run()).status == "released" and len(rec.requests) == 2


def test_async_client_takes_a_token_callable_and_a_caller_http_client() -> None:
    from client_support import BASE, Recorder

    rec = Recorder([ok({"user_id": "u", "balance": 1, "held": 0, "available": 1, "updated_at": None})])

    async def run() -> int:
        async with httpx.AsyncClient(transport=rec.transport) as http:
            client = cc.AsyncCreditsClient(BASE, token=lambda: TOKEN, http_client=http)
            balance = await client.balance()
            await client.aclose()
            assert not http.is_closed
            return balance.available

    assert run_async(run()) == 1
    assert rec.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
