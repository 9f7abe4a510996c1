"""The example backend (examples/render_service) against the real local stack: hold 5, capture what was used,
release on failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import credits_client as cc
from examples.render_service.app import Rendered, RenderFailed, RenderService, make_server, render_svg

from .conftest import STARTER_CREDITS


@pytest.fixture
def start_service(stack: Any) -> Iterator[Callable[..., str]]:
    running: list[tuple[Any, RenderService]] = []

    def start(renderer: Callable[[str, str], Rendered] = render_svg) -> str:
        service = RenderService(stack.base_url, renderer=renderer)
        server = make_server(service, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append((server, service))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, service in running:
        server.shutdown()
        server.server_close()
        service.close()


def post(url: str, token: str | None, body: Any, **headers: str) -> httpx.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url + "/render", json=body, headers=headers, timeout=30)


def test_a_render_holds_five_and_charges_what_the_job_used(stack: Any, start_service: Any, funded: cc.CreditsClient,
                                                           user: str) -> None:
    url = start_service()
    small = post(url, stack.token(user), {"prompt": "a red fox", "size": "small"})
    assert small.status_code == 200, small.text
    assert small.json()["credits_charged"] == 2 and small.json()["image"].startswith("<svg")
    large = post(url, stack.token(user), {"prompt": "a red fox", "size": "large"})
    assert large.json()["credits_charged"] == 5
    b = funded.balance()
    assert (b.available, b.held) == (STARTER_CREDITS - 7, 0)
    usage = [e for e in funded.history(type="usage")]
    assert [(e.amount, e.description) for e in usage] == [(-5, "render large"), (-2, "render small")]
    assert funded.get_hold(small.json()["hold_id"]).status == "captured"


def test_a_failed_render_releases_the_hold_and_charges_nothing(stack: Any, start_service: Any,
                                                              funded: cc.CreditsClient, user: str) -> None:
    seen: list[str] = []

    def broken(prompt: str, size: str) -> Rendered:
        seen.append(prompt)
        assert funded.balance().held == 5  # the credits were reserved while the job ran
        raise RenderFailed("GPU fell over")

    url = start_service(broken)
    r = post(url, stack.token(user), {"prompt": "doomed", "size": "medium"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "render_failed"
    assert seen == ["doomed"]
    b = funded.balance()
    assert (b.available, b.held) == (STARTER_CREDITS, 0)
    assert list(funded.history(type="usage")) == []


def test_a_user_without_five_credits_is_refused_before_rendering(stack: Any, start_service: Any, user: str) -> None:
    calls: list[str] = []

    def renderer(prompt: str, size: str) -> Rendered:
        calls.append(prompt)
        return render_svg(prompt, size)

    r = post(start_service(renderer), stack.token(user), {"prompt": "free lunch"})
    assert r.status_code == 402
    assert (r.json()["error"]["available"], r.json()["error"]["required"]) == (0, 5)
    assert calls == []


def test_bad_tokens_and_bad_bodies_are_refused(stack: Any, start_service: Any, user: str) -> None:
    url = start_service()
    assert post(url, None, {"prompt": "x"}).status_code == 401
    assert post(url, "forged", {"prompt": "x"}).status_code == 401
    assert post(url, stack.token(user), {"prompt": ""}).status_code == 400
    assert post(url, stack.token(user), {"prompt": "x", "size": "poster"}).status_code == 400


def test_a_retried_request_id_is_charged_once(stack: Any, start_service: Any, funded: cc.CreditsClient,
                                              user: str) -> None:
    url = start_service()
    first = post(url, stack.token(user), {"prompt": "again"}, **{"X-Request-Id": "req-1"})
    second = post(url, stack.token(user), {"prompt": "again"}, **{"X-Request-Id": "req-1"})
    assert first.status_code == 200 and second.status_code == 409
    assert funded.balance().available == STARTER_CREDITS - 2
