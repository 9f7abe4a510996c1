"""The fault suite's view of the service: an HTTP client that retries the way a careful client does, and the
ledger guarantees checked from the API contract alone (balance, history paging, holds, purchases).

Nothing here reads the table's item layout, so the checks keep meaning the same while the ledger core changes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from local.server import issue_token

CLIENT_TIMEOUT = 60.0  # longer than the service's own worst case of botocore retries, so a slow answer is an answer
CLIENT_ATTEMPTS = 8


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange as the client saw it: a status and body, or no answer at all."""

    status: int | None
    body: dict[str, Any] | None = None
    error: str | None = None

    @property
    def definite(self) -> bool:
        """The client knows the outcome (2xx applied, 4xx refused); a 5xx or no answer leaves it unknown."""
        return self.status is not None and self.status < 500

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        err = (self.body or {}).get("error")
        return err.get("code") if isinstance(err, dict) else None

    def label(self) -> str:
        return str(self.status) if self.status is not None else "no answer"


@dataclass
class Tally:
    """How the service answered during a scenario: statuses by route kind, and the 5xx bodies for the report."""

    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    server_errors: list[tuple[str, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, answer: Answer) -> None:
        with self.lock:
            self.statuses[(route, answer.label())] += 1
            if answer.status is not None and answer.status >= 500:
                self.server_errors.append((route, answer.status, answer.code))

    def count(self, label: str) -> int:
        return sum(n for (_, lbl), n in self.statuses.items() if lbl == label)

    def describe(self) -> str:
        return ", ".join(f"{route} {label}: {n}" for (route, label), n in sorted(self.statuses.items()))


class Api:
    """The fault stack's HTTP API. One ``requests.Session`` per thread; every answer goes into ``tally``."""

    def __init__(self, base_url: str, tally: Tally | None = None) -> None:
        self.base_url = base_url
        self.tally = tally or Tally()
        self._local = threading.local()
        self._tokens: dict[str, str] = {}

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def headers(self, user: str | None, key: str | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if user is not None:
            if user not in self._tokens:
                self._tokens[user] = issue_token(user, ttl=3600)
            headers["Authorization"] = f"Bearer {self._tokens[user]}"
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def request(self, method: str, path: str, *, user: str | None = None, json: Any = None, key: str | None = None,
                route: str | None = None, headers: dict[str, str] | None = None) -> Answer:
        try:
            resp = self._session().request(
                method, self.base_url + path, json=json, timeout=CLIENT_TIMEOUT,
                headers={**self.headers(user, key), **(headers or {})},
            )
        except requests.RequestException as exc:
            answer = Answer(None, None, type(exc).__name__)
        else:
            try:
                body = resp.json()
            except ValueError:
                body = {"raw": resp.text[:200]}
            answer = Answer(resp.status_code, body if isinstance(body, dict) else {"value": body})
        self.tally.add(route or path, answer)
        return answer

    def retrying(self, method: str, path: str, *, user: str, json: Any, key: str, route: str,
                 attempts: int = CLIENT_ATTEMPTS) -> list[Answer]:
        """Send, and resend with the same Idempotency-Key while the outcome is unknown (5xx or no answer)."""
        answers: list[Answer] = []
        for attempt in range(attempts):
            answer = self.request(method, path, user=user, json=json, key=key, route=route)
            answers.append(answer)
            if answer.definite:
                break
            time.sleep(min(0.4, 0.02 * 2**attempt))
        return answers

    # --- reads (used with faults off) -----------------------------------------------------------------------------
    def get_ok(self, path: str, *, user: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.request("GET", path, user=user, headers=headers, route="verify")
        assert answer.status == 200, f"GET {path}: {answer}"
        assert answer.body is not None
        return answer.body

    def balance(self, user: str) -> dict[str, Any]:
        return self.get_ok("/credits/balance", user=user)

    def entries(self, user: str) -> list[dict[str, Any]]:
        """Every history entry, newest first, by following ``next_cursor``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            query = "?limit=100" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            page = self.get_ok("/credits/history" + query, user=user)
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items
        raise AssertionError("history paging did not end")

    def hold(self, user: str, hold_id: str) -> dict[str, Any]:
        return self.get_ok(f"/credits/holds/{hold_id}", user=user)

    # --- money in through the Stripe simulator ----------------------------------------------------------------------
    def start_purchase(self, user: str, key: str) -> str:
        """POST /credits/purchase, retried with its key until the session exists; returns the session id."""
        answers = self.retrying("POST", "/credits/purchase", user=user, json={"bundle": "standard"}, key=key,
                                route="purchase", attempts=20)
        assert answers[-1].status == 200, f"purchase never started: {answers}"
        assert answers[-1].body is not None
        return str(answers[-1].body["session_id"])

    def pay(self, session_id: str, *, deliver: bool) -> str:
        answer = self.request("POST", f"/_stripe/checkout/{session_id}/pay", json={"deliver": deliver},
                              route="stripe pay")
        assert answer.status == 200 and answer.body is not None, f"pay {session_id}: {answer}"
        return str(answer.body["event_id"])

    def resend(self, event_id: str) -> Answer:
        """Redeliver an event; the simulator's answer carries what the webhook finally answered as ``status``."""
        return self.request("POST", f"/_stripe/events/{event_id}/resend", route="stripe resend")

    def delivery_statuses(self, event_id: str) -> list[int | None]:
        """Every delivery attempt's webhook status (None: no answer), as the simulator recorded them."""
        event = self.get_ok(f"/_stripe/events/{event_id}")
        return [a["status"] for a in (event.get("_delivery") or {}).get("attempts", [])]

    def fund(self, user: str, purchases: int = 1) -> int:
        """Buy ``purchases`` standard bundles (faults should be off); returns the credits the user then has."""
        for i in range(purchases):
            sid = self.start_purchase(user, f"fund-{user}-{i}")
            self.pay(sid, deliver=True)
        credits = int(self.balance(user)["balance"])
        assert credits > 0, "funding the user through the Stripe simulator added nothing"
        return credits


# --- the guarantees, from the API --------------------------------------------------------------------------------
def check_ledger(api: Api, user: str, *, expect_held: int | None = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The invariants every scenario ends with: balance = Σ entries, balance = available + held, available ≥ 0.

    ``expect_held`` is Σ of the holds the scenario knows are pending (None: do not check).
    """
    bal = api.balance(user)
    entries = api.entries(user)
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids)), f"history lists an entry twice: {[i for i, n in Counter(ids).items() if n > 1]}"
    assert all(e["amount"] != 0 for e in entries), "history has an entry of amount 0"
    assert bal["balance"] == sum(e["amount"] for e in entries), (
        f"balance {bal['balance']} != sum of {len(entries)} history entries {sum(e['amount'] for e in entries)}"
    )
    assert bal["balance"] == bal["available"] + bal["held"], f"balance != available + held: {bal}"
    assert bal["available"] >= 0, f"available went below zero: {bal}"
    if expect_held is not None:
        assert bal["held"] == expect_held, f"held {bal['held']} != the {expect_held} of holds still pending"
    return bal, entries


def chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
