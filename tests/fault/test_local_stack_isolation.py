"""Found by the fault suite: two concurrent requests in the local stack can swap headers, so a spend is stored under
another request's Idempotency-Key (and is then applied twice when its client resends it with its own key).

The random consume scenario showed it first: a key used with one body only was answered 409 idempotency_key_reused,
its idempotency record holding another spend's request. Cause: Powertools' resolver keeps the current event on the
``BaseRouter`` class (``BaseRouter.current_event = ...`` in ``resolve``), which every resolver in a process shares,
while ``local/lambda_host.py`` runs concurrent invocations as threads of one process ("execution environments" that
are separate module copies, but not separate processes). Deployed Lambda runs one event per process at a time and is
not affected. The fault stack (``serve.py``) keeps that state per resolver so the other scenarios test the ledger.

Made deterministic here: request A pauses while its body is read (its user is known by then), request B is handled
meanwhile on another environment, then A goes on and reads "its" headers.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from local.lambda_host import FunctionPool, decode_response, http_event
from local.template import Route, http_routes

from .workload import usage_by_description


class PausingEvent(dict[str, Any]):
    """An API Gateway event that stops on the first read of its body until told to go on."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(event)
        self.reading_body = threading.Event()
        self.go_on = threading.Event()

    def get(self, key: str, default: Any = None) -> Any:
        if key == "body" and not self.reading_body.is_set():
            self.reading_body.set()
            assert self.go_on.wait(10), "request B never finished"
        return super().get(key, default)


def consume_event(route: Route, user: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    return http_event(
        route, method="POST", raw_path="/credits/consume", raw_query="", query={}, body=raw, path_params={},
        headers={"content-type": "application/json", "content-length": str(len(raw)), "idempotency-key": key},
        claims={"sub": user, "iss": "credits-local", "aud": "credits-local", "exp": 4102444800},
    )


def test_concurrent_requests_in_the_local_stack_keep_their_own_idempotency_keys(stack, http, user):
    route = next(r for r in http_routes() if r.route_key == "POST /credits/consume")
    pool = FunctionPool(route.function, route.code_dir, route.handler)
    alice, bob = f"{user}-alice", f"{user}-bob"
    for who in (alice, bob):
        stack.seed(who, 100)
    spend_a = {"amount": 3, "description": "alice spend"}
    event_a = PausingEvent(consume_event(route, alice, "key-a", spend_a))
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def run_a() -> None:
        answers["a"] = decode_response(pool.invoke(event_a))

    thread = threading.Thread(target=run_a)
    thread.start()
    assert event_a.reading_body.wait(10), "request A never read its body"
    answers["b"] = decode_response(pool.invoke(consume_event(route, bob, "key-b", {"amount": 5, "description": "b"})))
    event_a.go_on.set()
    thread.join(10)
    assert answers["a"][0] == 200 and answers["b"][0] == 200, answers

    # Alice resends her spend with her own key, as a client does when unsure: the contract answers a replay.
    resent = decode_response(pool.invoke(consume_event(route, alice, "key-a", spend_a)))
    assert resent[0] == 200, resent
    entries = http.get(stack.url("/credits/history"), headers=stack.headers(alice)).json()["items"]
    spends = usage_by_description(entries)["alice spend"]
    assert len(spends) == 1, f"alice's spend was applied {len(spends)} times: {spends}"
