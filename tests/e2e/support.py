"""Shared pieces of the dashboard browser tests: Chromium settings, a Dashboard page wrapper, and an API seeder.

`Dashboard` is a page on the local stack's dashboard that also records what a person never should see: uncaught
exceptions and console errors. A test that provokes errors on purpose (a 401, an aborted request) says so with
`dash.expect_console_errors()`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from local.template import http_routes

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# The routes this checkout's template serves (the local stack serves exactly these).
ROUTES = {(route.method, route.path) for route in http_routes()}
# Routes the dashboard calls that a service may not have yet; their panels hide on a 404.
OPTIONAL_ROUTES = ("/credits/settings", "/credits/usage")


def has_route(method: str, path: str) -> bool:
    return (method, path) in ROUTES


def _missing_route_404(msg: ConsoleMessage) -> bool:
    """The browser logs every 404 it fetched; for an optional route this stack lacks, that 404 is the design."""
    if "status of 404" not in msg.text:
        return False
    path = urlsplit(msg.location.get("url") or "").path
    return path in OPTIONAL_ROUTES and not has_route("GET", path)


# Numbers and dates below are asserted as en-US renders them ("2,000").
CONTEXT_OPTIONS: dict[str, Any] = {"locale": "en-US", "timezone_id": "UTC", "viewport": {"width": 1280, "height": 900}}


class Dashboard:
    """One browser tab on the dashboard, with the selectors and steps the tests share."""

    def __init__(self, page: Page, stack: Any) -> None:
        self.page = page
        self.stack = stack
        self.base_url: str = stack.base_url
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self._errors_expected = False
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _on_console(self, msg: ConsoleMessage) -> None:
        # Only the dashboard is under test here, not the Stripe simulator's pages (nor their favicon requests).
        if msg.type != "error" or "/_stripe/" in self.page.url or "/_stripe/" in (msg.location.get("url") or ""):
            return
        if _missing_route_404(msg):
            return
        self.console_errors.append(f"{msg.text} ({msg.location.get('url')})")

    def expect_console_errors(self) -> None:
        """The test provokes failed requests (401, aborted, 500): the browser logs those by itself."""
        self._errors_expected = True

    def by(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, sub: str, email: str | None = None) -> None:
        self.open()
        self.by("user-id").fill(sub)
        if email:
            self.by("email").fill(email)
        self.by("sign-in-submit").click()
        expect(self.by("dashboard")).to_be_visible()
        # The balance is the last thing a signed-in page can't do without.
        expect(self.by("balance")).not_to_have_text("—")

    def history_rows(self) -> Locator:
        return self.by("history-row")

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        return screenshot(self.page, name, full_page=full_page)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Saves test-output/screenshots/<name>.png (gitignored) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class Api:
    """The contract's API for one user, for seeding data the way any client would."""

    def __init__(self, stack: Any, sub: str, http: requests.Session) -> None:
        self.stack = stack
        self.http = http
        self.sub = sub
        self.headers = {"Authorization": f"Bearer {stack.token(sub)}"}

    def _json(self, response: requests.Response) -> Any:
        assert response.ok, f"{response.request.method} {response.url}: {response.status_code} {response.text}"
        return response.json()

    def get(self, path: str) -> Any:
        return self._json(self.http.get(self.stack.base_url + path, headers=self.headers, timeout=10))

    def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> Any:
        headers = self.headers if auth else {}
        return self._json(self.http.post(self.stack.base_url + path, json=body, headers=headers, timeout=30))

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._json(self.http.put(self.stack.base_url + path, json=body, headers=self.headers, timeout=30))

    def internal(self, path: str, body: dict[str, Any], *, key: str | None = None) -> Any:
        """An operator's backend call (the local stack lets any SigV4-shaped request through), for this user."""
        headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=local/e2e", "Idempotency-Key": key or uuid.uuid4().hex}
        body = {"user_id": self.sub, **body}
        return self._json(self.http.post(self.stack.base_url + path, json=body, headers=headers, timeout=30))

    def buy_and_pay(self, bundle: str = "standard", *, card: str | None = None,
                    save_payment_method: bool = False) -> dict[str, Any]:
        """A card purchase through the simulator; returns the simulator's pay answer (with payment_intent)."""
        body: dict[str, Any] = {"bundle": bundle}
        if save_payment_method:
            body["save_payment_method"] = True
        session_id = self.post("/credits/purchase", body)["session_id"]
        paid: dict[str, Any] = self.post(f"/_stripe/checkout/{session_id}/pay", {"card": card} if card else {},
                                         auth=False)
        paid["session_id"] = session_id
        self.wait_for(lambda: self.get(f"/credits/purchases/{session_id}")["status"] == "fulfilled")
        return paid

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """The webhook is delivered by the simulator; the ledger may take a moment to show it."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not reached in time"
            time.sleep(0.1)
