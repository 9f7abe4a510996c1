"""Every event under events/ goes through its function's real ``lambda_handler``, so the events cannot rot.

Handlers are loaded by file path exactly as the local stack loads them (``local.lambda_host.FunctionPool``), after
the ``stack`` fixture has set the environment (DynamoDB Local table, Stripe simulator, webhook secret). Each test
uses a fresh user: the events' placeholder ids (user, hold, grant, Checkout session, payment intent) are replaced with
real ones before the call, and the webhook event is re-signed with the documented test secret
(events/sign_webhook.py) because Stripe signatures go stale after 300 s.

Every HTTP answer is also checked against openapi.yaml (documented status, response schema), so the events, the
handlers and the spec stay in step.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from credits import bootstrap
from credits.catalog import load_catalog
from local.lambda_host import FunctionPool, decode_response
from local.template import ROOT, http_routes, load_template
from tests.event_files import EVENTS, sign_webhook
from tests.openapi_support import resolve, spec

USER = "user-events-example"
HOLD = "hold_01kexample0000000000000000"
SESSION = "cs_test_events_example"
COMPLETED = "cs_test_events_completed"
PAYMENT_INTENT = "pi_test_events_example"
GRANT = "gr_01kexample0000000000000000"
SEED = 1000


# --- loading ------------------------------------------------------------------------------------------------------


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


def without_key(event: dict[str, Any]) -> dict[str, Any]:
    """The same event without its Idempotency-Key header."""
    return {**event, "headers": {k: v for k, v in event["headers"].items() if k != "idempotency-key"}}


class World:
    """A fresh, funded user and the real ids that replace the events' placeholders."""

    def __init__(self, stack: Any, pools: dict[str, FunctionPool]) -> None:
        self.stack = stack
        self.pools = pools
        self.user = f"evt-{uuid.uuid4().hex[:12]}"
        self.seed_grant = stack.seed(self.user, SEED, "seed")

    def event(self, rel: str, **replace: str) -> dict[str, Any]:
        return load_event(rel, **{USER: self.user, **replace})

    def call(self, rel: str, **replace: str) -> tuple[int, Any]:
        return invoke(self.pools, rel, self.event(rel, **replace))

    def send(self, rel: str, event: dict[str, Any]) -> tuple[int, Any]:
        return invoke(self.pools, rel, event)

    def hold(self, amount: int = 40, ttl: int = 600) -> str:
        return str(self.stack.ledger.place_hold(self.user, amount, ttl).hold.hold_id)

    def balance(self) -> dict[str, Any]:
        return self.stack.ledger.balance(self.user).to_dict()  # type: ignore[no-any-return]

    def history(self, entry_type: str | None = None) -> list[dict[str, Any]]:
        page = self.stack.ledger.history(self.user, limit=100, cursor=None, entry_type=entry_type)
        return [e.to_dict() for e in page.items]


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
    assert all("expires_after_days" in b for b in body["bundles"])


def _features(w: World) -> None:
    status, body = w.call("catalog/features.json")
    assert status == 200 and body["features"], body
    assert body["features"] == [f.public() for f in load_catalog().features]  # the server-side price list


def _balance(w: World) -> None:
    status, body = w.call("balance/get.json")
    assert status == 200
    assert (body["user_id"], body["balance"], body["available"], body["held"], body["expiring"]) == (
        w.user, SEED, SEED, 0, None)  # the seed never expires
    soon = w.stack.seed(w.user, 50, "promo", expires_in_days=2)
    later = w.stack.seed(w.user, 20, "promo", expires_in_days=9)
    status, body = w.call("balance/get.json")
    assert body["balance"] == SEED + 70 and body["expiring"] == {"amount": 50, "at": soon.expires_at}, body
    assert later.expires_at > soon.expires_at
    never_seen = f"evt-new-{uuid.uuid4().hex[:12]}"
    status, body = invoke(w.pools, "balance/get.json", load_event("balance/get.json", **{USER: never_seen}))
    assert (status, body) == (200, {"user_id": never_seen, "balance": 0, "held": 0, "available": 0,
                                    "updated_at": None, "expiring": None})


def _history_page(w: World) -> None:
    w.stack.ledger.consume(w.user, 7, "first use")
    status, body = w.call("history/page.json")
    assert status == 200 and body["next_cursor"] is None
    assert [(e["type"], e["amount"]) for e in body["items"]] == [("usage", -7), ("adjustment", SEED)]
    usage, adjustment = body["items"]
    assert "grant_id" not in usage and adjustment["grant_id"] == w.seed_grant.grant_id


def _history_by_type(w: World) -> None:
    grant = w.stack.grants.create_grant(w.user, 30, idempotency_key=uuid.uuid4().hex, description="Welcome back").grant
    w.stack.ledger.consume(w.user, 3, "use")
    status, body = w.call("history/by_type.json")
    assert status == 200 and body["next_cursor"] is None
    assert [(e["type"], e["amount"], e["grant_id"]) for e in body["items"]] == [("grant", 30, grant.grant_id)]


def _history_bad_cursor(w: World) -> None:
    status, body = w.call("history/bad_cursor.json")
    assert status == 400 and body["error"]["code"] == "invalid_request" and "cursor" in body["error"]["message"]


def _grants_active(w: World) -> None:
    first = w.stack.seed(w.user, 50, "promo", expires_in_days=5, priority=10)
    w.stack.ledger.consume(w.user, 20, "use")  # spent from the lowest priority number first
    status, body = w.call("grants/active.json")
    assert status == 200 and body["next_cursor"] is None
    assert [(g["grant_id"], g["remaining"], g["spent"], g["status"]) for g in body["grants"]] == [
        (first.grant_id, 30, 20, "active"), (w.seed_grant.grant_id, SEED, 0, "active")]
    assert sum(g["remaining"] for g in body["grants"]) == w.balance()["available"]


def _grants_all(w: World) -> None:
    promo = w.stack.seed(w.user, 50, "promo")
    w.stack.grants.void_grant(w.user, promo.grant_id, "withdrawn")
    status, body = w.call("grants/all.json")
    assert status == 200
    assert [(g["grant_id"], g["status"], g["voided"]) for g in body["grants"]] == [
        (w.seed_grant.grant_id, "active", 0), (promo.grant_id, "voided", 50)]  # active ones first, then the others
    status, body = w.call("grants/active.json")
    assert [g["grant_id"] for g in body["grants"]] == [w.seed_grant.grant_id]


def _grants_bad_status(w: World) -> None:
    status, body = w.call("grants/bad_status.json")
    assert status == 400 and body["error"]["code"] == "invalid_request" and "status" in body["error"]["message"]


def _consume_ok(w: World) -> None:
    status, body = w.call("consume/ok.json")
    assert status == 200 and (body["amount"], body["replayed"]) == (25, False)
    assert "balance" not in body and "available" not in body  # only with return_balance
    again = w.call("consume/ok.json")  # the event carries an Idempotency-Key: the first result, credits move once
    assert again == (200, {**body, "replayed": True})
    assert w.balance()["available"] == SEED - 25
    status, other = w.send("consume/ok.json", without_key(w.event("consume/ok.json")))  # no key: spends again
    assert status == 200 and other["transaction_id"] != body["transaction_id"]
    assert w.balance()["available"] == SEED - 50


def _consume_by_feature(w: World) -> None:
    cost = 3 * (load_catalog().credits_per_unit("image.render") or 0)
    status, body = w.call("consume/by_feature.json")
    assert status == 200 and cost > 0
    assert (body["amount"], body["feature"], body["quantity"], body["replayed"]) == (cost, "image.render", 3, False)
    assert w.balance()["available"] == SEED - cost
    usage = w.history("usage")
    assert [(e["amount"], e["feature"], e["quantity"]) for e in usage] == [(-cost, "image.render", 3)]
    assert w.call("consume/by_feature.json") == (200, {**body, "replayed": True})
    assert w.balance()["available"] == SEED - cost


def _consume_return_balance(w: World) -> None:
    status, body = w.call("consume/return_balance.json")
    assert status == 200 and (body["amount"], body["balance"], body["available"]) == (25, SEED - 25, SEED - 25)
    w.stack.ledger.consume(w.user, 5, "something else")
    status, again = w.call("consume/return_balance.json")  # a replay reads the balance at replay time
    assert (again["transaction_id"], again["replayed"], again["balance"]) == (body["transaction_id"], True, SEED - 30)


def _consume_unknown_feature(w: World) -> None:
    status, body = w.call("consume/unknown_feature.json")
    assert status == 400 and body["error"]["code"] == "unknown_feature"
    assert w.balance()["available"] == SEED


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
    assert status == 201 and (body["status"], body["amount"], body["available"], body["replayed"]) == (
        "pending", 40, SEED - 40, False)
    assert (w.balance()["held"], w.balance()["balance"]) == (40, SEED)
    status, again = w.call("holds/place.json")  # same key and body: the same hold, nothing moves
    assert (status, again["hold_id"], again["status"], again["replayed"]) == (200, body["hold_id"], "pending", True)
    assert w.balance()["held"] == 40
    w.stack.ledger.capture_hold(w.user, body["hold_id"], 10)
    status, later = w.call("holds/place.json")  # the hold as it is now
    assert (status, later["hold_id"], later["status"], later["captured"]) == (200, body["hold_id"], "captured", 10)


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
    assert (body["status"], body["captured"], body["released"], body["balance"], body["replayed"]) == (
        "captured", 15, 25, SEED - 15, False)
    status, again = w.call("holds/capture.json", **{HOLD: hold_id})  # a retry with its key: the first result
    assert (status, again["transaction_id"], again["captured"], again["replayed"]) == (
        200, body["transaction_id"], 15, True)
    assert w.balance()["available"] == SEED - 15
    status, body = w.send("holds/capture.json", without_key(w.event("holds/capture.json", **{HOLD: hold_id})))
    assert status == 409 and body["error"]["code"] == "hold_not_pending"
    status, body = w.call("holds/capture.json", **{HOLD: w.hold()})  # the same key on another hold
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused"


def _hold_release(w: World) -> None:
    hold_id = w.hold()
    status, body = w.call("holds/release.json", **{HOLD: hold_id})
    assert status == 200 and (body["status"], body["released"], body["available"], body["replayed"]) == (
        "released", 40, SEED, False)
    status, again = w.call("holds/release.json", **{HOLD: hold_id})
    assert (status, again["released"], again["replayed"]) == (200, 40, True)
    status, body = w.send("holds/release.json", without_key(w.event("holds/release.json", **{HOLD: hold_id})))
    assert status == 409 and body["error"]["code"] == "hold_not_pending"


def _purchase_start(w: World) -> None:
    status, body = w.call("purchase/start.json")
    assert status == 200 and body["session_id"] and body["url"].endswith(body["session_id"])
    purchase = bootstrap.purchase_store().get_purchase(body["session_id"])
    assert purchase is not None
    assert (purchase.user_id, purchase.bundle, purchase.status) == (w.user, "standard", "pending")


def _purchase_unknown_bundle(w: World) -> None:
    status, body = w.call("purchase/unknown_bundle.json")
    assert status == 400 and body["error"]["code"] == "unknown_bundle"


def _purchase_status(w: World) -> None:
    _, started = w.call("purchase/start.json")
    status, body = w.call("purchase/status.json", **{SESSION: started["session_id"]})
    assert status == 200
    assert (body["session_id"], body["bundle"], body["credits"], body["status"], body["grant_id"]) == (
        started["session_id"], "standard", 2000, "pending", None)
    status, _ = w.call("purchase/status.json")  # the placeholder session is nobody's
    assert status == 404


def _webhook_checkout_completed(w: World) -> None:
    # A correctly signed event about a session Stripe does not know: acknowledged, nothing moves.
    made_up = sign_webhook.sign_event(w.event("webhook/checkout_completed.json"))
    status, body = w.send("webhook/checkout_completed.json", made_up)
    assert (status, body["received"], body["outcome"]) == (200, True, "ignored: unknown to Stripe")
    assert w.balance()["available"] == SEED
    assert bootstrap.purchase_store().get_purchase(COMPLETED) is None
    # A session really paid in the simulator: the simulator delivers the webhook itself and it credits once.
    _, started = w.call("purchase/start.json")
    session = started["session_id"]
    paid = requests.post(w.stack.url(f"/_stripe/checkout/{session}/pay"), json={}, timeout=30)
    # (a card payment also sends payment_intent.* and charge.* events first, as Stripe does: all acknowledged)
    assert paid.status_code == 200 and {d["status"] for d in paid.json()["deliveries"]} == {200}, paid.text
    assert paid.json()["deliveries"][-1]["type"] == "checkout.session.completed"
    assert w.balance()["available"] == SEED + 2000
    purchase = bootstrap.purchase_store().get_purchase(session)
    assert purchase is not None and purchase.status == "fulfilled" and purchase.grant_id
    # The event file, re-signed for that very session: a duplicate, nothing moves.
    again = sign_webhook.sign_event(w.event("webhook/checkout_completed.json", **{
        COMPLETED: session, PAYMENT_INTENT: paid.json()["payment_intent"]}))
    status, body = w.send("webhook/checkout_completed.json", again)
    assert (status, body["outcome"]) == (200, "duplicate")
    assert w.balance()["available"] == SEED + 2000
    assert [(e["amount"], e["reference"], e["grant_id"]) for e in w.history("purchase")] == [
        (2000, session, purchase.grant_id)]
    # The file as committed is signed with the documented test secret, and is stale by now: 400, nothing moves.
    committed = load_event("webhook/checkout_completed.json")
    header = committed["headers"]["stripe-signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert sign_webhook.sign_event(committed, sign_webhook.TEST_SECRET, timestamp)["headers"]["stripe-signature"] == (
        header)
    status, body = w.send("webhook/checkout_completed.json", committed)
    assert status == 400 and body["error"]["code"] == "invalid_signature"


def _webhook_bad_signature(w: World) -> None:
    event = w.event("webhook/bad_signature.json")
    status, body = w.send("webhook/bad_signature.json", event)
    assert status == 400 and body["error"]["code"] == "invalid_signature"
    assert w.balance()["available"] == SEED


def _internal_consume(w: World) -> None:
    status, body = w.call("internal_consume/ok.json")
    assert status == 200 and (body["user_id"], body["amount"], body["replayed"]) == (w.user, 10, False)
    assert w.balance()["available"] == SEED - 10
    assert w.call("internal_consume/ok.json") == (200, {**body, "replayed": True})
    # Its keys are a space of their own: the user route's consume with the same key is another request.
    event = w.event("consume/ok.json")
    event["headers"]["idempotency-key"] = w.event("internal_consume/ok.json")["headers"]["idempotency-key"]
    status, user_route = w.send("consume/ok.json", event)
    assert status == 200 and user_route["replayed"] is False
    assert w.balance()["available"] == SEED - 35


def _internal_grant_create(w: World) -> None:
    before = time.time()
    status, body = w.call("internal_grants/create.json")
    assert status == 201
    assert (body["user_id"], body["amount"], body["remaining"], body["category"], body["source"], body["priority"],
            body["status"], body["replayed"]) == (w.user, 500, 500, "promotional", "grant", 10, "active", False)
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
    assert before + 30 * 86400 - 5 <= expires <= time.time() + 30 * 86400 + 5
    assert w.balance()["available"] == SEED + 500
    assert [(e["amount"], e["grant_id"]) for e in w.history("grant")] == [(500, body["grant_id"])]
    w.stack.ledger.consume(w.user, 7, "use")  # spent from the grant first (priority 10)
    status, again = w.call("internal_grants/create.json")  # a replay: the same grant, as it is now
    assert (status, again["grant_id"], again["remaining"], again["spent"], again["replayed"]) == (
        200, body["grant_id"], 493, 7, True)
    assert w.balance()["available"] == SEED + 493


def _internal_grant_reused_key(w: World) -> None:
    assert w.call("internal_grants/create.json")[0] == 201
    status, body = w.call("internal_grants/create_reused_key.json")  # same key, another amount
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused"
    assert w.balance()["available"] == SEED + 500


def _internal_grant_no_key(w: World) -> None:
    status, body = w.call("internal_grants/create_no_key.json")
    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert "Idempotency-Key" in body["error"]["message"]
    assert w.balance()["available"] == SEED


def _internal_grant_void(w: World) -> None:
    promo = w.stack.seed(w.user, 300, "promo")
    w.stack.ledger.consume(w.user, 100, "use")  # spent from the older seed grant first (same priority, both never expire)
    status, body = w.call("internal_grants/void.json", **{GRANT: promo.grant_id})
    assert status == 200
    assert (body["grant_id"], body["status"], body["voided"], body["remaining"], body["replayed"]) == (
        promo.grant_id, "voided", 300, 0, False)
    assert w.balance()["available"] == SEED - 100
    assert [(e["amount"], e["grant_id"], e["description"]) for e in w.history("void")] == [
        (-300, promo.grant_id, "Promotion withdrawn")]
    status, again = w.call("internal_grants/void.json", **{GRANT: promo.grant_id})
    assert (status, again["voided"], again["replayed"]) == (200, 300, True)
    status, body = w.send("internal_grants/void.json", without_key(w.event("internal_grants/void.json",
                                                                            **{GRANT: promo.grant_id})))
    assert status == 409 and body["error"]["code"] == "grant_not_active"
    status, body = w.call("internal_grants/void.json")  # the same key on another grant
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused"
    status, body = w.send("internal_grants/void.json", without_key(w.event("internal_grants/void.json")))
    assert status == 404 and body["error"]["code"] == "not_found"  # the placeholder grant is nobody's
    assert w.balance()["available"] == SEED - 100


def _reconcile(w: World) -> None:
    _, result = w.call("reconcile/scheduled.json")
    assert isinstance(result["checked"], int) and isinstance(result["fulfilled"], list)


def _sweeper(w: World) -> None:
    hold_id = w.hold(amount=5, ttl=1)
    expires = w.stack.ledger.store.get_hold(w.user, hold_id).expires_epoch
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    _, result = w.call("sweeper/scheduled.json")
    assert result["holds_tidied"] >= 1
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
    table = w.stack.ledger.store.table  # the aggregates went to the same table
    from credits.events.usage_store import UsageStore

    (day,) = UsageStore(table.name, table.client).days(w.user, "2026-03-05", "2026-03-05")
    assert (day.credits, day.count, day.by_feature) == (25, 1, {"render": (25, 1)})


def _deliver_sqs_batch(w: World) -> None:
    event_id = f"evt_{uuid.uuid4().hex}"
    _, result = w.call("deliver/sqs_batch.json", evt_00000000000000000000000000example=event_id)
    assert result == {"batchItemFailures": []}
    (delivery,) = w.receiver.wait_for(1, timeout=5, user_id=w.user)  # type: ignore[attr-defined]
    assert delivery.webhook_id == event_id and delivery.event["type"] == "credits.balance.depleted"


def _recharge_sqs_job(w: World) -> None:
    from credits.recharge import RechargeSettings

    # A saved card and auto-recharge on, with a threshold far below the balance (so nothing starts by itself) ...
    headers = w.stack.headers(w.user)
    started = requests.post(w.stack.url("/credits/purchase"), json={"bundle": "standard", "save_payment_method": True},
                            headers=headers, timeout=30).json()
    assert requests.post(w.stack.url(f"/_stripe/checkout/{started['session_id']}/pay"), json={},
                         timeout=30).status_code == 200
    assert requests.put(w.stack.url("/credits/settings"), json={"auto_recharge": {"enabled": True, "threshold": 10}},
                        headers=headers, timeout=30).status_code == 200
    # ... and a recharge requested as the events function requests it when a write crosses the threshold.
    recharge_id = bootstrap.recharge().consider(w.user, 0, f"events-example-{w.user}",
                                                RechargeSettings(True, 5000, "standard", 5))
    assert recharge_id is not None
    before = w.balance()["available"]
    _, result = w.call("recharge/sqs_job.json", rc_events_example_000000000=recharge_id)
    assert result == {"batchItemFailures": []}
    record = bootstrap.recharge_store().record(w.user, recharge_id)
    assert record is not None and record.status == "succeeded" and (record.payment_intent or "").startswith("pi_")
    _, again = w.call("recharge/sqs_job.json", rc_events_example_000000000=recharge_id)  # a redelivered message
    assert again == {"batchItemFailures": []}
    assert w.balance()["available"] == before + 2000  # credited once (the change path may also have run it)
    assert [e["reference"] for e in w.history("purchase")].count(record.payment_intent) == 1
    # A message that is not a recharge job is dropped, not retried into the dead-letter queue.
    garbage = w.event("recharge/sqs_job.json")
    garbage["Records"][0]["body"] = "not json"
    _, dropped = w.send("recharge/sqs_job.json", garbage)
    assert dropped == {"batchItemFailures": []}


CASES: dict[str, Callable[[World], None]] = {
    "catalog/health.json": _health,
    "catalog/bundles.json": _bundles,
    "catalog/features.json": _features,
    "balance/get.json": _balance,
    "history/page.json": _history_page,
    "history/by_type.json": _history_by_type,
    "history/bad_cursor.json": _history_bad_cursor,
    "grants/active.json": _grants_active,
    "grants/all.json": _grants_all,
    "grants/bad_status.json": _grants_bad_status,
    "consume/ok.json": _consume_ok,
    "consume/by_feature.json": _consume_by_feature,
    "consume/return_balance.json": _consume_return_balance,
    "consume/unknown_feature.json": _consume_unknown_feature,
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
    "internal_grants/create.json": _internal_grant_create,
    "internal_grants/create_reused_key.json": _internal_grant_reused_key,
    "internal_grants/create_no_key.json": _internal_grant_no_key,
    "internal_grants/void.json": _internal_grant_void,
    "reconcile/scheduled.json": _reconcile,
    "sweeper/scheduled.json": _sweeper,
    "settings/get.json": _settings_get,
    "settings/put.json": _settings_put,
    "settings/put_bad.json": _settings_put_bad,
    "usage/get.json": _usage_get,
    "usage/bad_range.json": _usage_bad_range,
    "events/stream_batch.json": _events_stream_batch,
    "deliver/sqs_batch.json": _deliver_sqs_batch,
    "recharge/sqs_job.json": _recharge_sqs_job,
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
