"""Test helpers for the client's unit tests: a recording ``httpx.MockTransport`` and contract-shaped answers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from credits_client import AsyncCreditsClient, CreditsClient, RetryPolicy

T = TypeVar("T")
BASE = "http://credits.test"
TOKEN = "tok-123"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """Answers requests from a script (the last answer repeats) and records each request and each sleep."""

    answers: list[Answer]
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def policy(self, max_retries: int = 3) -> RetryPolicy:
        async def asleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return RetryPolicy(max_retries=max_retries, sleep=self.sleeps.append, async_sleep=asleep)

    def body(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content) if self.requests[i].content else None

    def keys(self) -> list[str | None]:
        return [r.headers.get("idempotency-key") for r in self.requests]


def ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=data)


def err(status: int, code: str, message: str = "nope", **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})


def sync_client(*answers: Answer, max_retries: int = 3, **kw: Any) -> tuple[CreditsClient, Recorder]:
    rec = Recorder(list(answers) or [ok({})])
    return CreditsClient(BASE, token=TOKEN, transport=rec.transport, retry=rec.policy(max_retries), **kw), rec


def async_client(*answers: Answer, max_retries: int = 3, **kw: Any) -> tuple[AsyncCreditsClient, Recorder]:
    rec = Recorder(list(answers) or [ok({})])
    return AsyncCreditsClient(BASE, token=TOKEN, transport=rec.transport, retry=rec.policy(max_retries), **kw), rec


def refuse_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


BALANCE = {"user_id": "u1", "balance": 120, "held": 20, "available": 100, "updated_at": "2026-01-02T03:04:05.000Z",
           "expiring": {"amount": 30, "at": "2026-02-01T00:00:00.000Z"}}
CONSUME = {"transaction_id": "tx_1", "amount": 5, "replayed": False}
HOLD = {"hold_id": "h_1", "amount": 100, "status": "pending", "expires_at": "2026-01-02T03:05:05.000Z",
        "available": 0}
CAPTURE = {"hold_id": "h_1", "status": "captured", "captured": 37, "released": 63, "balance": 63, "available": 63,
           "transaction_id": "tx_2"}
RELEASE = {"hold_id": "h_1", "status": "released", "released": 100, "available": 100, "balance": 100}
ENTRY = {"id": "e1", "type": "usage", "amount": -5, "description": "render", "created_at": "2026-01-02T03:04:05Z",
         "reference": None, "feature": "render", "quantity": 1}
GRANT = {"grant_id": "g_1", "category": "promotional", "source": "grant", "amount": 50, "remaining": 40,
         "priority": 50, "expires_at": None, "created_at": "2026-01-01T00:00:00.000Z", "status": "active",
         "description": "welcome back", "reference": None, "spent": 10, "held": 0, "expired": 0, "voided": 0,
         "clawed_back": 0, "repaid_debt": 0, "restored": 0}
FEATURES = {"features": [{"id": "render", "name": "Render", "credits_per_unit": 5, "unit": "image"},
                         {"id": "tokens", "name": "Tokens", "credits_per_unit": 1, "unit": "1k tokens"}]}
SETTINGS = {"alerts": {"thresholds": [100, 10]},
            "auto_recharge": {"enabled": False, "threshold": 200, "bundle": "standard", "monthly_limit": 5,
                              "recharges_this_month": 0, "payment_method": {"brand": "visa", "last4": "4242"},
                              "status": "off",
                              "last_failure": {"reason": "insufficient_funds", "at": "2026-01-03T04:05:06.000Z"}}}
USAGE = {"from": "2026-01-01", "to": "2026-01-30", "group_by": "day",
         "items": [{"day": "2026-01-02", "feature": None, "credits": 40, "count": 3}]}
BUNDLES = {"bundles": [{"id": "standard", "name": "Standard", "credits": 2000, "unit_amount": 1990,
                        "currency": "usd"}]}


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
