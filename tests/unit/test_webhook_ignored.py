"""Signed webhook bodies that are not an event we handle, through the real webhook handler (``functions/webhook``).

Signed JSON that is not a handled event is acknowledged (200, so Stripe stops retrying), logged and counted as
``WebhookIgnored`` in the EMF the handler flushes (what CloudWatch turns into the metric); a signed body that is not
JSON is a 400 ``invalid_signature``. The purchase service is the real one on the in-memory store with a fake gateway,
handed to the handler through ``credits.bootstrap.override``; events are signed by events/sign_webhook.py.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from credits import bootstrap
from credits.observability import metrics
from local.lambda_host import FunctionPool, decode_response
from local.template import ROOT, load_template
from tests.event_files import EVENTS, sign_webhook
from tests.fake_stripe import WEBHOOK_SECRET, World, make_world


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> Any:
    # The webhook's cold start checks that a well-formed signing secret is configured; EMF is printed, not disabled.
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # one store per process: drop what earlier tests left unflushed
    world = make_world()
    with bootstrap.override(purchases=world.purchases):
        yield world
    metrics.clear_metrics()


@functools.cache
def pool() -> FunctionPool:
    """One warm copy of the handler for the module (it asks bootstrap for the service on every request)."""
    resources = load_template()["Resources"]
    logical_id = next(k for k, v in resources.items()
                      if v.get("Properties", {}).get("CodeUri") == "functions/webhook/")
    return FunctionPool(logical_id, ROOT / "functions" / "webhook", "app.lambda_handler")


def deliver(body: str, *, sign: bool = True) -> tuple[int, dict[str, Any]]:
    """An API Gateway event of the committed webhook example with this raw body, freshly signed."""
    event = json.loads((EVENTS / "webhook" / "checkout_completed.json").read_text(encoding="utf-8"))
    event["body"] = body
    if sign:
        event = sign_webhook.sign_event(event, WEBHOOK_SECRET)
    status, _, raw = decode_response(pool().invoke(event))
    return status, json.loads(raw)


def counted(stdout: str, name: str) -> int:
    total = 0
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc and name in doc:
            value = doc[name]
            total += int(sum(value) if isinstance(value, list) else value)
    return total


@pytest.mark.parametrize(("body", "outcome"), [
    ("[]", "ignored: malformed"),
    ("{}", "ignored: malformed"),
    ('"checkout.session.completed"', "ignored: malformed"),
    ('{"type": "checkout.session.completed", "data": {"object": "x"}}', "ignored: malformed"),
    ('{"type": "checkout.session.completed"}', "ignored: malformed"),
    ('{"type": "checkout.session.completed", "data": {"object": {"object": "checkout.session"}}}',
     "ignored: malformed"),
    ('{"type": "refund.updated", "data": {"object": {"id": 7}}}', "ignored: malformed"),
    ('{"type": null, "data": {"object": {"id": "cs_test_x"}}}', "ignored: malformed"),
    ('{"type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer"}}}',
     "ignored: event type"),
    ('{"type": "checkout.session.completed", "data": {"object": {"id": "cs_test_nobody_made"}}}',
     "ignored: unknown to Stripe"),
], ids=["array", "empty-object", "string", "object-not-a-dict", "data-missing", "object-without-id",
        "id-not-a-string", "type-not-a-string", "unhandled-type", "session-stripe-does-not-know"])
def test_signed_json_that_is_not_an_event_we_handle_is_acknowledged_and_counted(w, capsys, body, outcome):
    status, answer = deliver(body)
    assert (status, answer) == (200, {"received": True, "outcome": outcome})
    out = capsys.readouterr().out
    assert counted(out, "WebhookIgnored") == 1
    assert counted(out, "CreditsPurchased") == 0 and counted(out, "UnhandledErrors") == 0


@pytest.mark.parametrize("body", ["not json", "{", '{"type": "checkout.session.completed",', ""],
                         ids=["text", "brace", "truncated", "empty"])
def test_a_signed_body_that_is_not_json_is_a_400_invalid_signature(w, capsys, body):
    status, answer = deliver(body)
    assert status == 400 and answer["error"]["code"] == "invalid_signature"
    assert counted(capsys.readouterr().out, "WebhookIgnored") == 0


def test_a_handled_event_is_not_counted_as_ignored(w: World, capsys):
    """The counter separates what was ignored from what was acted on (here a paid session of ours)."""
    sid = w.purchases.start_checkout("u", "standard", email=None, idempotency_key=None).session_id
    w.gateway.pay(sid)
    status, answer = deliver(json.dumps({"id": "evt_1", "type": "checkout.session.completed",
                                         "data": {"object": {"id": sid}}}))
    assert (status, answer) == (200, {"received": True, "outcome": "fulfilled"})
    out = capsys.readouterr().out
    assert counted(out, "WebhookIgnored") == 0 and counted(out, "CreditsPurchased") == 2000
    assert w.ledger.balance("u").balance == 2000

