"""Fixtures for the client's tests against the real local stack (``stack`` and ``user`` come from tests/conftest.py).

Users are funded through the public path only (a purchase paid on the Stripe simulator), so these tests depend on
the HTTP contract and not on the ledger's internals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from credits_client import AsyncCreditsClient, CreditsClient, RetryPolicy

T = TypeVar("T")
STARTER_CREDITS = 500  # the catalog's "starter" bundle

FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def make_client(stack: Any) -> Iterator[Callable[..., CreditsClient]]:
    made: list[CreditsClient] = []

    def make(sub: str, base_url: str | None = None, **kw: Any) -> CreditsClient:
        kw.setdefault("retry", FAST_RETRY)
        client = CreditsClient(base_url or stack.base_url, token=stack.token(sub), **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., CreditsClient], user: str) -> CreditsClient:
    return make_client(user)


@pytest.fixture
def make_async_client(stack: Any) -> Callable[..., AsyncCreditsClient]:
    def make(sub: str, base_url: str | None = None, **kw: Any) -> AsyncCreditsClient:
        kw.setdefault("retry", FAST_RETRY)
        return AsyncCreditsClient(base_url or stack.base_url, token=stack.token(sub), **kw)

    return make


def pay(stack: Any, session_id: str) -> None:
    r = httpx.post(stack.url(f"/_stripe/checkout/{session_id}/pay"), json={}, timeout=30)
    assert r.status_code == 200, r.text


@pytest.fixture
def funded(stack: Any, client: CreditsClient) -> CreditsClient:
    """The ``user``'s client, with the starter bundle bought and paid (500 credits)."""
    session = client.purchase("starter")
    pay(stack, session.session_id)
    assert client.balance().available == STARTER_CREDITS
    return client


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: a test session may already run an event loop in the main thread
    (Playwright's sync API does, for the browser tests), and ``asyncio.run`` refuses to nest."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
