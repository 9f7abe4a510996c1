"""Browser fixtures for the dashboard end-to-end tests: Debian's Chromium driven by Playwright's sync API.

The local stack itself (`stack`, `user`, `http`) comes from tests/conftest.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from .support import CHROMIUM, CHROMIUM_ARGS, CONTEXT_OPTIONS, Api, Dashboard

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make setup` installs it (apt-get install -y chromium)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def dash(browser: Browser, stack: Any) -> Iterator[Dashboard]:
    context = browser.new_context(**CONTEXT_OPTIONS)
    context.set_default_timeout(15_000)
    page = context.new_page()
    dashboard = Dashboard(page, stack)
    yield dashboard
    context.close()
    assert dashboard.page_errors == [], f"uncaught exceptions in the page: {dashboard.page_errors}"
    if not dashboard._errors_expected:
        assert dashboard.console_errors == [], f"console errors: {dashboard.console_errors}"


@pytest.fixture
def api(stack: Any, user: str, http: requests.Session) -> Api:
    return Api(stack, user, http)
