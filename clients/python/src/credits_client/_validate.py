"""Checks of the caller's input against the API's limits, before any request is sent.

Each raises ``InvalidRequest`` (``status`` None) naming the argument, so a programming mistake fails fast and never
reaches the service. Only what the contract fixes is checked here; everything that depends on the server's state
(a bundle's existence, a user's balance, the clock) is left to the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from credits_client.errors import InvalidRequest

MAX_AMOUNT = 1_000_000_000
MAX_KEY = 255
MAX_DESCRIPTION = 200
MAX_HOLD_TTL = 86_400
MAX_ID = 1024


def integer(name: str, value: Any, low: int, high: int = MAX_AMOUNT) -> int:
    # bool is an int subclass: True must not be taken for 1 credit
    if type(value) is not int or not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low:,} to {high:,}, got {value!r}.")
    return value


def amount(value: Any, name: str = "amount") -> int:
    return integer(name, value, 1)


def text(name: str, value: Any, max_len: int, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not allow_empty and not value.strip()):
        what = "a string" if allow_empty else "a non-empty string"
        raise InvalidRequest(f"{name} must be {what} of at most {max_len} characters.")
    return value


def description(value: Any) -> str:
    return text("description", value, MAX_DESCRIPTION)


def idempotency_key(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"idempotency_key must be 1-{MAX_KEY} printable ASCII characters.")
    return value


def identifier(name: str, value: Any) -> str:
    return text(name, value, MAX_ID, allow_empty=False)


def user_id(value: Any) -> str:
    return text("user_id", value, 256, allow_empty=False)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false.")
    return value


def choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return str(value)


def day(name: str, value: Any) -> str:
    """A UTC calendar day, from a ``date`` or a ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):  # a datetime is a date subclass, but its day depends on a time zone
        raise InvalidRequest(f"{name} must be a date or a YYYY-MM-DD string, not a datetime.")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidRequest(f"{name} must be a date or a YYYY-MM-DD string, got {value!r}.")


def timestamp(name: str, value: Any) -> str:
    """An ISO 8601 UTC string from an aware ``datetime`` (naive ones are ambiguous) or a string passed through."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequest(f"{name} must be a timezone-aware datetime.")
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, str) and value:
        return value
    raise InvalidRequest(f"{name} must be a timezone-aware datetime or an ISO 8601 string.")


def thresholds(value: Any) -> list[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) > 5:
        raise InvalidRequest("alert_thresholds must be a list of at most 5 integers >= 0.")
    return [integer("alert_thresholds[]", v, 0) for v in value]
