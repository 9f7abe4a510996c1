"""Every event under events/ goes through its function's real ``lambda_handler``, so the events cannot rot.

Handlers are loaded by file path exactly as the local stack loads them (``local.lambda_host.FunctionPool``), after
the ``stack`` fixture has set the environment (DynamoDB Local table, Stripe simulator, webhook secret). Each test
uses a fresh user: the events' placeholder ids (user, hold, Checkout session, payment intent) are replaced with
real ones before the call, and the webhook event is re-signed with the documented test secret
(events/sign_webhook.py) because Stripe signatures go stale after 300 s.

Every HTTP answer is also checked against openapi.yaml (documented status, response schema), so the events, the
handlers and the spec stay in step.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.lambda_host import FunctionPool, decode_response
from local.template import ROOT, http_routes, load_template
from tests.openapi_support import resolve, spec

EVENTS = ROOT / "events"
USER = "user-events-example"
HOLD = "hold_01kexample0000000000000000"
SESSION = "cs_test_events_example"
COMPLETED = "cs_test_events_completed"
PAYMENT_INTENT = "pi_test_events_example"
SEED = 1000


# --- loading ------------------------------------------------------------------------------------------------------
def _signer() -> Any:
    spec = importlib.util.spec_from_file_location("events_sign_webhook", EVENTS / "sign_webhook.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sign_webhook = _signer()


def event_files() -> list[str]:
    return sorted(str(p.relative_to(EVENTS)) for p in EVENTS.glob("*/*.json"))  # not events/env.example.json


def functions_by_dir() -> dict[str, tuple[str, Path, str]]:
    """events/<dir>/ belongs to the function whose CodeUri is functions/<dir>/: dir -> (logical id, code, handler)."""
    out = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource["Properties"]
            code_dir = ROOT / props["CodeUri"]
            out[code_dir.name] = (logical_id, code_dir, props["Handler"])
    return out


@pytest.fixture(scope="module")
def pools(stack: Any) -> dict[str, FunctionPool]:
    return {name: FunctionPool(logical_id, code_dir, handler)
            for name, (logical_id, code_dir, handler) in functions_by_dir().items()}


def load_event(rel: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / rel).read_text(encoding="utf-8")
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    return json.loads(text)  # type: ignore[no-any-return]


# --- the spec -----------------------------------------------------------------------------------------------------
def assert_matches_spec(event: dict[str, Any], status: int, headers: dict[str, str], body: Any) -> None:
    from openapi_schema_validator import OAS30Validator

    method, path = event["routeKey"].split(" ", 1)
    responses = spec()["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{event['routeKey']} answered {status}, which openapi.yaml does not document"
    media = resolve(responses[str(status)])["content"]
    assert headers.get("content-type", "").split(";")[0] in media
    schema = {**media["application/json"]["schema"], "components": spec()["components"]}
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OAS30Validator(schema).iter_errors(body)]
    assert not errors, (event["routeKey"], status, body, errors)


# --- invoking -----------------------------------------------------------------------------------------------------
def invoke(pools: dict[str, FunctionPool], rel: str, event: dict[str, Any]) -> tuple[int, Any]:
    """Call the handler of the function that owns events/<dir>/; HTTP answers are decoded like API Gateway does."""
    result = pools[rel.split("/")[0]].invoke(event)
    if "routeKey" not in event:
        return 0, result
    status, headers, raw = decode_response(result)
    body = json.loads(raw)
    assert "Traceback" not in raw.decode() and 'File "' not in raw.decode()
    assert_matches_spec(event, status, headers, body)
    return status, body


class World:
    """A fresh, funded user and the real ids that replace the events' placeholders."""

    def __init__(self, stack: Any, pools: dict[str, FunctionPool]) -> None:
        self.stack = stack
        self.pools = pools
        self.user = f"evt-{uuid.uuid4().hex[:12]}"
        stack.seed(self.user, SEED, "seed")

    def event(self, rel: str, **replace: str) -> dict[str, Any]:
        return load_event(rel, **{USER: self.user, **replace})

    def call(self, rel: str, **replace: str) -> tuple[int, Any]:
        return invoke(self.pools, rel, self.event(rel, **replace))

    def hold(self, amount: int = 40, ttl: int = 600) -> str:
        return str(self.stack.ledger.place_hold(self.user, amount, ttl).hold.hold_id)

    def balance(self) -> dict[str, Any]:
        return self.stack.ledger.balance(self.user).to_dict()  # type: ignore[no-any-return]


@pytest.fixture
def world(stack: Any, pools: dict[str, FunctionPool], receiver: Any) -> World:
    w = World(stack, pools)
    w.receiver = receiver  # type: ignore[attr-defined]
    return w


# --- the catalogue of events: every file has exactly one case ----------------------------------------------------
def _health(w: World) -> None:
    assert w.call("catalog/health.json") == (200, {"status": "ok"})


def _bundles(w: World) -> None:
    status, body = w.call("catalog/bundles.json")
    standard = next(b for b in body["bundles"] if b["id"] == "standard")
    assert status == 200 and (standard["credits"], standard["unit_amount"], standard["currency"]) == (2000, 1990, "usd")


def _balance(w: World) -> None:
    status, body = w.call("balance/get.json")
    assert status == 200
    assert (body["user_id"], body["balance"], body["available"], body["held"]) == (w.user, SEED, SEED, 0)
    never_seen = f"evt-new-{uuid.uuid4().hex[:12]}"
    status, body = invoke(w.pools, "balance/get.json", load_event("balance/get.json", **{USER: never_seen}))
    assert (status, body) == (200, {"user_id": never_seen, "balance": 0, "held": 0, "available": 0, "updated_at": None})


def _history_page(w: World) -> None:
    w.stack.ledger.consume(w.user, 7, "first use")
    status, body = w.call("history/page.json")
    assert status == 200 and body["next_cursor"] is None
    assert [(e["type"], e["amount"]) for e in body["items"]] == [("usage", -7), ("adjustment", SEED)]


def _history_bad_cursor(w: World) -> None:
    status, body = w.call("history/bad_cursor.json")
    assert status == 400 and body["error"]["code"] == "invalid_request" and "cursor" in body["error"]["message"]


def _consume_ok(w: World) -> None:
    status, body = w.call("consume/ok.json")
    assert status == 200 and (body["amount"], body["balance"], body["available"]) == (25, SEED - 25, SEED - 25)
    again = w.call("consume/ok.json")  # the event carries an Idempotency-Key: the first result, credits move once
    assert again == (200, body)
    assert w.balance()["available"] == SEED - 25


def _consume_bad_amount(w: World) -> None:
    status, body = w.call("consume/bad_amount.json")
    assert status == 400 and body["error"]["code"] == "invalid_request" and "amount" in body["error"]["message"]
    assert w.balance()["available"] == SEED


def _consume_insufficient(w: World) -> None:
    status, body = w.call("consume/insufficient.json")
    assert status == 402
    assert (body["error"]["code"], body["error"]["available"], body["error"]["required"]) == (
        "insufficient_credits", SEED, 1_000_000_000)


def _consume_no_token(w: World) -> None:
    status, body = w.call("consume/no_token.json")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert w.balance()["available"] == SEED


def _hold_place(w: World) -> None:
    status, body = w.call("holds/place.json")
    assert status == 201 and (body["status"], body["amount"], body["available"]) == ("pending", 40, SEED - 40)
    assert (w.balance()["held"], w.balance()["balance"]) == (40, SEED)


def _hold_place_bad_ttl(w: World) -> None:
    status, body = w.call("holds/place_bad_ttl.json")
    assert status == 400 and "ttl_seconds" in body["error"]["message"]


def _hold_get(w: World) -> None:
    hold_id = w.hold()
    status, body = w.call("holds/get.json", **{HOLD: hold_id})
    assert status == 200 and (body["hold_id"], body["status"], body["amount"]) == (hold_id, "pending", 40)
    status, body = w.call("holds/get.json")  # the placeholder id is nobody's hold
    assert status == 404 and body["error"]["code"] == "not_found"


def _hold_capture(w: World) -> None:
    hold_id = w.hold()
    status, body = w.call("holds/capture.json", **{HOLD: hold_id})
    assert status == 200
    assert (body["status"], body["captured"], body["released"], body["balance"]) == ("captured", 15, 25, SEED - 15)
    status, body = w.call("holds/capture.json", **{HOLD: hold_id})
    assert status == 409 and body["error"]["code"] == "hold_not_pending"


def _hold_release(w: World) -> None:
    hold_id = w.hold()
    status, body = w.call("holds/release.json", **{HOLD: hold_id})
    assert status == 200 and (body["status"], body["released"], body["available"]) == ("released", 40, SEED)


def _purchase_start(w: World) -> None:
    status, body = w.call("purchase/start.json")
    assert status == 200 and body["session_id"] and body["url"].endswith(body["session_id"])
    purchase = w.stack.ledger.store.get_purchase(body["session_id"])
    assert (purchase.user_id, purchase.bundle, purchase.status) == (w.user, "standard", "pending")


def _purchase_unknown_bundle(w: World) -> None:
    status, body = w.call("purchase/unknown_bundle.json")
    assert status == 400 and body["error"]["code"] == "unknown_bundle"


def _purchase_status(w: World) -> None:
    _, started = w.call("purchase/start.json")
    status, body = w.call("purchase/status.json", **{SESSION: started["session_id"]})
    assert status == 200
    assert (body["session_id"], body["bundle"], body["credits"], body["status"]) == (
        started["session_id"], "standard", 2000, "pending")
    status, _ = w.call("purchase/status.json")  # the placeholder session is nobody's
    assert status == 404


def _webhook_checkout_completed(w: World) -> None:
    session, payment = f"cs_test_{uuid.uuid4().hex}", f"pi_test_{uuid.uuid4().hex}"
    raw = w.event("webhook/checkout_completed.json", **{COMPLETED: session, PAYMENT_INTENT: payment})
    event = sign_webhook.sign_event(raw)  # fresh signature over the personalised body
    status, body = invoke(w.pools, "webhook/checkout_completed.json", event)
    assert (status, body["received"], body.get("outcome")) == (200, True, "fulfilled")
    assert w.balance()["available"] == SEED + 2000
    status, body = invoke(w.pools, "webhook/checkout_completed.json", event)  # Stripe redelivers
    assert (status, body.get("outcome")) == (200, "duplicate")
    assert w.balance()["available"] == SEED + 2000
    assert w.stack.ledger.store.get_purchase(session).status == "fulfilled"
    # The file as committed is signed with the documented test secret, and is stale by now: 400, nothing moves.
    committed = load_event("webhook/checkout_completed.json")
    header = committed["headers"]["stripe-signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert sign_webhook.sign_event(committed, sign_webhook.TEST_SECRET, timestamp)["headers"]["stripe-signature"] == (
        header)
    status, body = invoke(w.pools, "webhook/checkout_completed.json", committed)
    assert status == 400 and body["error"]["code"] == "invalid_signature"


def _webhook_bad_signature(w: World) -> None:
    event = w.event("webhook/bad_signature.json")
    status, body = invoke(w.pools, "webhook/bad_signature.json", event)
    assert status == 400 and body["error"]["code"] == "invalid_signature"
    assert w.balance()["available"] == SEED


def _internal_consume(w: World) -> None:
    status, body = w.call("internal_consume/ok.json")
    assert status == 200 and (body["user_id"], body["amount"], body["available"]) == (w.user, 10, SEED - 10)


def _reconcile(w: World) -> None:
    _, result = w.call("reconcile/scheduled.json")
    assert isinstance(result["checked"], int) and isinstance(result["fulfilled"], list)


def _sweeper(w: World) -> None:
    hold_id = w.hold(amount=5, ttl=1)
    expires = w.stack.ledger.store.get_hold(w.user, hold_id).expires_epoch
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    _, result = w.call("sweeper/scheduled.json")
    assert result["settled"] >= 1
    assert w.stack.ledger.store.get_hold(w.user, hold_id).status == "expired"
    assert (w.balance()["held"], w.balance()["available"]) == (0, SEED)


def _settings_get(w: World) -> None:
    status, body = w.call("settings/get.json")
    assert status == 200 and body["alerts"] == {"thresholds": []} and body["auto_recharge"]["status"] == "off"


def _settings_put(w: World) -> None:
    status, body = w.call("settings/put.json")
    assert status == 200 and body["alerts"]["thresholds"] == [500, 100]
    assert (body["auto_recharge"]["threshold"], body["auto_recharge"]["bundle"]) == (300, "pro")
    assert w.call("settings/get.json") == (200, body)


def _settings_put_bad(w: World) -> None:
    status, body = w.call("settings/put_bad.json")
    assert status == 400 and "alerts.thresholds.1" in body["error"]["message"]


def _usage_get(w: World) -> None:
    status, body = w.call("usage/get.json")
    assert status == 200 and (body["from"], body["to"], body["group_by"], body["items"]) == (
        "2026-03-01", "2026-03-31", "day", [])


def _usage_bad_range(w: World) -> None:
    status, body = w.call("usage/bad_range.json")
    assert status == 400 and "366" in body["error"]["message"]


def _events_stream_batch(w: World) -> None:
    entry_id = f"tx_{uuid.uuid4().hex}"
    event = w.event("events/stream_batch.json", tx_01kevents0example0000000000=entry_id)
    _, result = invoke(w.pools, "events/stream_batch.json", event)
    assert result == {"batchItemFailures": []}
    events = w.stack.stack.change_path.events(w.user)
    assert [(e["type"], e["data"]) for e in events] == [
        ("credits.balance.depleted", {"user_id": w.user, "available": 0})]
    _, again = invoke(w.pools, "events/stream_batch.json", event)  # the same records again: nothing twice
    assert again == {"batchItemFailures": []} and len(w.stack.stack.change_path.events(w.user)) == 1
    usage = w.stack.ledger.store  # the aggregates went to the same table
    from credits.events.store import UsageStore

    (day,) = UsageStore(usage.table, usage.client).days(w.user, "2026-03-05", "2026-03-05")
    assert (day.credits, day.count, day.by_feature) == (25, 1, {"render": (25, 1)})


def _deliver_sqs_batch(w: World) -> None:
    event_id = f"evt_{uuid.uuid4().hex}"
    _, result = w.call("deliver/sqs_batch.json", evt_00000000000000000000000000example=event_id)
    assert result == {"batchItemFailures": []}
    (delivery,) = w.receiver.wait_for(1, timeout=5, user_id=w.user)  # type: ignore[attr-defined]
    assert delivery.webhook_id == event_id and delivery.event["type"] == "credits.balance.depleted"


CASES: dict[str, Callable[[World], None]] = {
    "catalog/health.json": _health,
    "catalog/bundles.json": _bundles,
    "balance/get.json": _balance,
    "history/page.json": _history_page,
    "history/bad_cursor.json": _history_bad_cursor,
    "consume/ok.json": _consume_ok,
    "consume/bad_amount.json": _consume_bad_amount,
    "consume/insufficient.json": _consume_insufficient,
    "consume/no_token.json": _consume_no_token,
    "holds/place.json": _hold_place,
    "holds/place_bad_ttl.json": _hold_place_bad_ttl,
    "holds/get.json": _hold_get,
    "holds/capture.json": _hold_capture,
    "holds/release.json": _hold_release,
    "purchase/start.json": _purchase_start,
    "purchase/unknown_bundle.json": _purchase_unknown_bundle,
    "purchase/status.json": _purchase_status,
    "webhook/checkout_completed.json": _webhook_checkout_completed,
    "webhook/bad_signature.json": _webhook_bad_signature,
    "internal_consume/ok.json": _internal_consume,
    "reconcile/scheduled.json": _reconcile,
    "sweeper/scheduled.json": _sweeper,
    "settings/get.json": _settings_get,
    "settings/put.json": _settings_put,
    "settings/put_bad.json": _settings_put_bad,
    "usage/get.json": _usage_get,
    "usage/bad_range.json": _usage_bad_range,
    "events/stream_batch.json": _events_stream_batch,
    "deliver/sqs_batch.json": _deliver_sqs_batch,
}


@pytest.mark.parametrize("rel", sorted(CASES))
def test_event_through_its_handler(world, rel):
    CASES[rel](world)


def test_every_event_file_has_a_case_and_every_function_has_events():
    assert set(event_files()) == set(CASES), "add the new event to CASES (or remove the stale case)"
    dirs = {rel.split("/")[0] for rel in event_files()}
    assert dirs == set(functions_by_dir()), "events/<dir>/ must match the template's functions/<dir>/"


def test_http_events_name_a_route_of_their_function():
    routes = {r.route_key: r for r in http_routes()}
    functions = functions_by_dir()
    for rel in event_files():
        event = load_event(rel)
        if "routeKey" not in event:
            sources = {r.get("eventSource") for r in event.get("Records", [])}
            assert event.get("source") == "aws.scheduler" or sources in ({"aws:dynamodb"}, {"aws:sqs"}), rel
            continue
        route = routes.get(event["routeKey"])
        assert route is not None, f"{rel}: {event['routeKey']} is not a route of template.yaml"
        assert route.function == functions[rel.split("/")[0]][0], rel
        assert event["version"] == "2.0" and event["requestContext"]["routeKey"] == event["routeKey"]
        method = event["routeKey"].split(" ")[0]
        assert event["requestContext"]["http"]["method"] == method, rel
        assert route.match(method, event["rawPath"]) == (event.get("pathParameters") or {}), rel
        authorizer = event["requestContext"].get("authorizer") or {}
        if route.auth == "jwt" and rel != "consume/no_token.json":
            assert authorizer["jwt"]["claims"]["sub"] == USER, rel
        if route.auth == "iam":
            assert authorizer["iam"]["userArn"], rel
        if route.auth == "none":
            assert not authorizer, rel
