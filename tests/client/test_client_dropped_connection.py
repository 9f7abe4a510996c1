"""A spend whose answer is lost on the wire: the client retries with the same key and the credits move once."""

from __future__ import annotations

import json
from typing import Any

import pytest

import credits_client as cc

from .conftest import STARTER_CREDITS, run_async
from .proxy import DroppingProxy


@pytest.fixture
def proxy(stack: Any) -> Any:
    with DroppingProxy(stack.base_url) as p:
        yield p


def test_a_consume_whose_answer_is_dropped_is_retried_with_its_key_and_spends_once(
        funded: cc.CreditsClient, make_client: Any, user: str, proxy: DroppingProxy) -> None:
    via_proxy = make_client(user, base_url=proxy.url)
    proxy.drop_next(1)
    result = via_proxy.consume(7, description="answer lost")

    attempts = proxy.requests_to("/credits/consume")
    assert len(proxy.dropped) == 1 and len(attempts) == 2
    keys = {m.header("idempotency-key") for m in attempts}
    assert len(keys) == 1 and None not in keys
    assert {m.body for m in attempts} == {b'{"amount":7,"description":"answer lost"}'}
    # the lost answer was a real spend, and the retry answered that same spend
    lost = json.loads(proxy.dropped[0].body)
    assert proxy.dropped[0].start_line.split(" ")[1] == "200"
    assert result.transaction_id == lost["transaction_id"]
    assert funded.balance().available == STARTER_CREDITS - 7
    assert len([e for e in funded.history(type="usage") if e.description == "answer lost"]) == 1


def test_a_hold_whose_answer_is_dropped_is_placed_once(funded: cc.CreditsClient, make_client: Any, user: str,
                                                       proxy: DroppingProxy) -> None:
    via_proxy = make_client(user, base_url=proxy.url)
    proxy.drop_next(1)
    h = via_proxy.hold(40, ttl_seconds=60)
    assert len(proxy.dropped) == 1 and h.hold_id == json.loads(proxy.dropped[0].body)["hold_id"]
    assert funded.balance().held == 40  # one hold, not two
    h.release()
    assert funded.balance().available == STARTER_CREDITS


def test_the_async_client_recovers_the_same_way(funded: cc.CreditsClient, make_async_client: Any, user: str,
                                                proxy: DroppingProxy) -> None:
    async def run() -> cc.ConsumeResult:
        async with make_async_client(user, base_url=proxy.url) as client:
            proxy.drop_next(1)
            return await client.consume(9)

    result = run_async(run())
    assert result.transaction_id == json.loads(proxy.dropped[0].body)["transaction_id"]
    assert funded.balance().available == STARTER_CREDITS - 9


def test_a_connection_that_keeps_dropping_gives_up_with_the_key_for_a_later_retry(
        funded: cc.CreditsClient, make_client: Any, user: str, proxy: DroppingProxy) -> None:
    via_proxy = make_client(user, base_url=proxy.url)
    proxy.drop_next(100)
    with pytest.raises(cc.ServiceUnavailable) as info:
        via_proxy.consume(3)
    assert len(proxy.dropped) == 4  # the first attempt and 3 retries, each processed (once) by the server
    assert funded.balance().available == STARTER_CREDITS - 3
    # later, the caller retries the unknown outcome with the key it was given: still one spend
    proxy.drop_next(0)
    again = via_proxy.consume(3, idempotency_key=info.value.idempotency_key)
    assert again.transaction_id == json.loads(proxy.dropped[0].body)["transaction_id"]
    assert funded.balance().available == STARTER_CREDITS - 3
