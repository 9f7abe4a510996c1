"""When to retry and how long to wait: connection errors, 429 and 5xx only, exponential backoff with full jitter.

A 4xx is the caller's mistake or a final answer (402, 409...) and is never retried. Retrying a write is safe because
every write carries one Idempotency-Key for the whole logical call: the service answers a repeat with the first
result (``replayed: true``) instead of applying it again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

# Transient transport failures. Not retried: UnsupportedProtocol, LocalProtocolError, a proxy misconfiguration,
# i.e. errors that would fail the same way every time.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; the wait before retry n (0-based) is drawn uniformly from
    ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter", so a crowd of clients does not retry in step).

    A ``Retry-After`` of at most ``max_delay`` seconds on a 429/503 is honoured as a lower bound. ``sleep``,
    ``async_sleep`` and ``rng`` are injectable for tests.
    """

    max_retries: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.max_retries) is not int or self.max_retries < 0:
            raise ValueError("max_retries must be an integer >= 0")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(retry, 30)))
        wait = self.rng.uniform(0, ceiling)
        hint = _seconds(retry_after)
        if hint is not None and hint <= self.max_delay:
            wait = max(wait, hint)
        return wait


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in its delta-seconds form; an HTTP date (rare from APIs) is ignored."""
    if not retry_after:
        return None
    try:
        value = float(retry_after)
    except ValueError:
        return None
    return value if value >= 0 else None
