"""The Python client against the real local stack: the routes the service has today, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.credentials import Credentials

import credits_client as cc

from .conftest import FAST_RETRY, STARTER_CREDITS, pay, run_async


def usage_entries(client: cc.CreditsClient, description: str) -> list[cc.HistoryEntry]:
    return [e for e in client.history(type="usage") if e.description == description]


def test_health_and_bundles_need_no_token(stack: Any) -> None:
    with cc.CreditsClient(stack.base_url, token="not-a-jwt") as anonymous:
        assert anonymous.health() == "ok"
        standard = next(b for b in anonymous.bundles() if b.id == "standard")
    assert (standard.credits, standard.unit_amount, standard.currency) == (2000, 1990, "usd")


def test_a_new_user_has_a_zero_balance(client: cc.CreditsClient, user: str) -> None:
    b = client.balance()
    assert (b.user_id, b.balance, b.held, b.available) == (user, 0, 0, 0)


def test_dev_token_gives_a_token_the_stack_accepts(stack: Any, user: str) -> None:
    token = cc.dev_token(stack.base_url, user, email="a@example.com")
    with cc.CreditsClient(stack.base_url, token=token) as c:
        assert c.balance().user_id == user


def test_purchase_paid_on_the_simulator_is_fulfilled(stack: Any, client: cc.CreditsClient) -> None:
    session = client.purchase("starter")
    assert session.url.endswith(session.session_id)
    assert client.purchase_status(session.session_id).status == "pending"
    pay(stack, session.session_id)
    status = client.purchase_status(session.session_id)
    assert (status.status, status.credits, status.bundle) == ("fulfilled", STARTER_CREDITS, "starter")
    assert client.balance().available == STARTER_CREDITS


def test_consume_spends_and_a_repeat_with_its_key_spends_once(funded: cc.CreditsClient) -> None:
    first = funded.consume(30, description="job-1", idempotency_key="job-1")
    again = funded.consume(30, description="job-1", idempotency_key="job-1")
    assert first.amount == 30 and again.transaction_id == first.transaction_id
    assert funded.balance().available == STARTER_CREDITS - 30
    assert len(usage_entries(funded, "job-1")) == 1


def test_the_same_key_with_another_amount_raises_idempotency_key_reused(funded: cc.CreditsClient) -> None:
    funded.consume(1, idempotency_key="k-reuse")
    with pytest.raises(cc.IdempotencyKeyReused) as info:
        funded.consume(2, idempotency_key="k-reuse")
    assert info.value.status == 409
    assert funded.balance().available == STARTER_CREDITS - 1


def test_spending_more_than_available_raises_insufficient_credits(funded: cc.CreditsClient) -> None:
    with pytest.raises(cc.InsufficientCredits) as info:
        funded.consume(STARTER_CREDITS + 1)
    assert (info.value.available, info.value.required) == (STARTER_CREDITS, STARTER_CREDITS + 1)
    assert funded.balance().available == STARTER_CREDITS


def test_the_server_refusals_map_to_typed_errors(stack: Any, client: cc.CreditsClient) -> None:
    with pytest.raises(cc.InvalidRequest) as info:
        client.purchase("no-such-bundle")
    assert (info.value.status, info.value.code) == (400, "unknown_bundle")
    with pytest.raises(cc.NotFound):
        client.get_hold("hold-that-does-not-exist")
    with pytest.raises(cc.NotFound):
        client.purchase_status("cs_unknown")
    with cc.CreditsClient(stack.base_url, token="forged.token.value", retry=FAST_RETRY) as forged:
        with pytest.raises(cc.Unauthorized):
            forged.balance()


def test_history_iterates_over_every_page_newest_first(funded: cc.CreditsClient) -> None:
    for i in range(7):
        funded.consume(1, description=f"page-{i}")
    entries = list(funded.history(page_size=3))
    assert [e.description for e in entries[:7]] == [f"page-{i}" for i in reversed(range(7))]
    assert entries[-1].type == "purchase" and entries[-1].amount == STARTER_CREDITS
    assert sum(e.amount for e in entries) == funded.balance().balance
    assert all(e.type == "usage" for e in funded.history(type="usage"))


def test_a_hold_captured_in_the_block_spends_what_was_captured(funded: cc.CreditsClient) -> None:
    with funded.hold(100, ttl_seconds=60, description="render") as h:
        assert funded.balance().held == 100
        result = h.capture(37)
    assert (result.captured, result.released, h.status) == (37, 63, "captured")
    b = funded.balance()
    assert (b.available, b.held) == (STARTER_CREDITS - 37, 0)


def test_a_hold_is_released_when_the_block_raises(funded: cc.CreditsClient) -> None:
    with pytest.raises(RuntimeError):
        with funded.hold(100) as h:
            raise RuntimeError("render failed")
    assert funded.get_hold(h.hold_id).status == "released"
    b = funded.balance()
    assert (b.available, b.held) == (STARTER_CREDITS, 0)


def test_a_hold_left_unresolved_is_released_on_exit(funded: cc.CreditsClient) -> None:
    with funded.hold(50) as h:
        pass
    assert h.status == "released" and funded.get_hold(h.hold_id).status == "released"
    assert funded.balance().available == STARTER_CREDITS


def test_a_hold_above_available_raises_insufficient_credits(funded: cc.CreditsClient) -> None:
    with pytest.raises(cc.InsufficientCredits):
        funded.hold(STARTER_CREDITS + 1)


def test_a_hold_resolved_elsewhere_is_not_pending_any_more(funded: cc.CreditsClient) -> None:
    h = funded.hold(10)
    funded.release_hold(h.hold_id)
    with pytest.raises(cc.HoldNotPending):
        funded.capture_hold(h.hold_id, 5)
    with h:  # the handle still thinks pending: its exit release meets hold_not_pending and raises nothing
        pass
    assert funded.balance().available == STARTER_CREDITS


def test_another_users_hold_is_not_found(funded: cc.CreditsClient, make_client: Any) -> None:
    h = funded.hold(10)
    other = make_client("someone-else")
    with pytest.raises(cc.NotFound):
        other.capture_hold(h.hold_id)
    h.release()


def test_admin_client_spends_for_a_user_over_a_sigv4_signed_route(stack: Any, funded: cc.CreditsClient,
                                                                    user: str) -> None:
    with cc.CreditsAdminClient(stack.base_url, region="us-east-1", credentials=Credentials("AKIDLOCAL", "local"),
                               retry=FAST_RETRY) as admin:
        first = admin.consume(user, 12, description="batch", idempotency_key="batch-1")
        again = admin.consume(user, 12, description="batch", idempotency_key="batch-1")
        assert first.user_id == user and again.transaction_id == first.transaction_id
        # the user route's key space is another one: the same key spends again there
        assert funded.consume(12, description="batch", idempotency_key="batch-1").transaction_id != \
            first.transaction_id
        with pytest.raises(cc.InsufficientCredits):
            admin.consume(user, 10_000)
    assert funded.balance().available == STARTER_CREDITS - 24


def test_unsigned_calls_to_internal_routes_are_forbidden(stack: Any, client: cc.CreditsClient) -> None:
    import httpx

    r = httpx.post(stack.url("/internal/credits/consume"), json={"user_id": "u", "amount": 1})
    assert r.status_code == 403  # what the admin client's signature is for
    assert cc.errors.from_response(r.status_code, r.content).__class__ is cc.Forbidden


def test_async_client_does_the_same_against_the_stack(stack: Any, funded: cc.CreditsClient, user: str,
                                                      make_async_client: Any) -> None:
    async def run() -> tuple[int, int, list[str]]:
        async with make_async_client(user) as client:
            spent = await client.consume(5, description="async", idempotency_key="async-1")
            replay = await client.consume(5, description="async", idempotency_key="async-1")
            assert replay.transaction_id == spent.transaction_id
            async with client.hold(20) as h:
                await h.capture(4)
            with pytest.raises(ValueError):
                async with client.hold(20):
                    raise ValueError("boom")
            with pytest.raises(cc.InsufficientCredits):
                await client.consume(10_000)
            types = [e.type async for e in client.history(page_size=2)]
            b = await client.balance()
            return b.available, b.held, types

    available, held, types = run_async(run())
    assert (available, held) == (STARTER_CREDITS - 9, 0)
    assert types == ["usage", "usage", "purchase"]
