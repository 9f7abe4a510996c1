"""The local Stripe simulator, driven through the real ``stripe`` library and plain HTTP.

Each test gets its own simulator behind a ThreadingHTTPServer on a free port, plus a webhook receiver that
records deliveries and answers with whatever statuses the test queues (``tests/stripe_sim_support.py``).
The newer behaviour (refund and dispute lifecycles, customers, saved cards, off-session payments, webhook
endpoints) is covered in ``test_stripe_sim_payments.py``; Stripe's schemas in ``test_stripe_sim_contract.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "credits", ROOT / "scripts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from stripe_setup import setup  # noqa: E402

from credits.catalog import Bundle, Catalog, load_catalog  # noqa: E402
from credits.errors import PaymentProviderError  # noqa: E402
from credits.stripe_gateway import StripeGateway, StripeProviderError  # noqa: E402
from local.stripe_sim import StripeSimulator, parse_form  # noqa: E402
from tests.stripe_sim_support import (  # noqa: E402
    KEY,
    SECRET,
    Clock,
    Receiver,
    SimStack,
    client_for,
    new_session,
    new_stack,
    paid_session,
    start_sim,
    verified,
)

pytestmark = pytest.mark.timeout(30)
CARD_PAYMENT = ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
REFUND = ["refund.created", "refund.updated", "charge.refund.updated", "charge.refunded"]


def standard() -> Bundle:
    bundle = load_catalog().get("standard")
    assert bundle is not None
    return bundle


# --- setup script --------------------------------------------------------------------------------------------


def test_setup_script_is_idempotent_and_matches_catalog(sim_stack: SimStack, tmp_path: Path) -> None:
    env = {**os.environ, "STRIPE_SECRET_KEY": KEY, "STRIPE_API_BASE": sim_stack.api_base, "NO_PROXY": "*"}
    script = str(ROOT / "scripts" / "stripe_setup.py")
    runs = [
        subprocess.run([sys.executable, script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first = {line.split()[0]: line.split()[2] for line in runs[0].stdout.splitlines()}
    second = {line.split()[0]: line.split()[2] for line in runs[1].stdout.splitlines()}
    catalog = load_catalog()
    assert set(first) == {b.id for b in catalog.bundles}
    assert first == second
    assert "(created)" in runs[0].stdout and "(created)" not in runs[1].stdout
    client = sim_stack.client()
    for bundle in catalog.bundles:
        price = client.v1.prices.retrieve(first[bundle.id])
        assert (price.unit_amount, price.currency, price.lookup_key, price.active) == (
            bundle.unit_amount,
            bundle.currency,
            bundle.lookup_key,
            True,
        )
        assert price.product == "credits_bundle"
    assert client.v1.products.retrieve("credits_bundle").name == "Credits Bundle"
    assert len(client.v1.prices.list(params={"limit": 100}).data) == len(catalog.bundles)


def test_setup_script_requires_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_SECRET_KEY"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stripe_setup.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert "STRIPE_SECRET_KEY" in run.stderr


def test_setup_moves_lookup_key_to_a_new_price_when_the_amount_changes(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    catalog = load_catalog()
    changed = Catalog(
        bundles=tuple(b.model_copy(update={"unit_amount": 2490}) if b.id == "standard" else b for b in catalog.bundles)
    )
    results = {r.bundle: r for r in setup(client=sim_stack.client(), catalog=changed)}
    assert results["standard"].action == "created"
    assert results["standard"].price_id != prices["standard"]
    assert results["starter"].price_id == prices["starter"] and results["starter"].action == "reused"
    client = sim_stack.client()
    old = client.v1.prices.retrieve(prices["standard"])
    new = client.v1.prices.retrieve(results["standard"].price_id)
    assert (old.lookup_key, old.active) == (None, False)
    assert (new.lookup_key, new.unit_amount, new.active) == ("credits_standard_2000", 2490, True)
    # And back: the catalog price again becomes a new price holding the key.
    again = {r.bundle: r for r in setup(client=client, catalog=catalog)}
    assert again["standard"].price_id not in {prices["standard"], results["standard"].price_id}
    assert client.v1.prices.retrieve(again["standard"].price_id).unit_amount == 1990


# --- checkout sessions ---------------------------------------------------------------------------------------


def test_gateway_checkout_params_arrive_as_sent(sim_stack: SimStack, prices: dict[str, str]) -> None:
    gateway = StripeGateway(KEY, api_base=sim_stack.api_base)
    ref = gateway.create_checkout_session(
        user_id="user-42",
        email="buyer@example.com",
        bundle=standard(),
        success_url="http://app.test/ok?sid={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/cancel",
        idempotency_key="purchase-1",
    )
    assert ref.id.startswith("cs_test_")
    assert ref.url == f"{sim_stack.base}/_stripe/checkout/{ref.id}"
    session = gateway.retrieve_checkout_session(ref.id)
    expected_meta = {"user_id": "user-42", "bundle": "standard", "credits": "2000"}
    assert session["metadata"] == expected_meta
    assert session["client_reference_id"] == "user-42"
    assert session["customer_email"] == "buyer@example.com"
    assert session["success_url"] == "http://app.test/ok?sid={CHECKOUT_SESSION_ID}"
    assert session["cancel_url"] == "http://app.test/cancel"
    assert (session["amount_total"], session["currency"], session["mode"]) == (1990, "usd", "payment")
    assert (session["status"], session["payment_status"], session["payment_intent"]) == (
        "open",
        "unpaid",
        None,
    )
    assert session["expires_at"] == session["created"] + 24 * 3600
    assert session["livemode"] is False and session["object"] == "checkout.session"
    items = sim_stack.client().v1.checkout.sessions.line_items.list(ref.id).data
    assert [(i.to_dict()["price"]["id"], i.quantity, i.amount_total) for i in items] == [(prices["standard"], 1, 1990)]
    # The PaymentIntent carries payment_intent_data.metadata once paid.
    status, out = sim_stack.sim_post(f"/checkout/{ref.id}/pay")
    assert status == 200
    intent = sim_stack.client().v1.payment_intents.retrieve(out["payment_intent"])
    assert intent.metadata.to_dict() == expected_meta
    # Same idempotency key again: the same session, not a second one.
    again = gateway.create_checkout_session(
        user_id="user-42",
        email="buyer@example.com",
        bundle=standard(),
        success_url="http://app.test/ok?sid={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/cancel",
        idempotency_key="purchase-1",
    )
    assert again.id == ref.id


def test_idempotency_key_replays_and_rejects_different_params(sim_stack: SimStack, prices: dict[str, str]) -> None:
    form = f"mode=payment&line_items[0][price]={prices['standard']}&line_items[0][quantity]=1".encode()
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "idem-1"}
    s1, h1, b1 = sim_stack.request("POST", "/_stripe/v1/checkout/sessions", form, headers)
    s2, h2, b2 = sim_stack.request("POST", "/_stripe/v1/checkout/sessions", form, headers)
    assert (s1, s2) == (200, 200)
    assert json.loads(b1)["id"] == json.loads(b2)["id"]
    assert "Idempotent-Replayed" not in h1 and h2["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        sim_stack.client().v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": prices["standard"], "quantity": 2}]},
            options={"idempotency_key": "idem-1"},
        )
    listed = sim_stack.client().v1.checkout.sessions.list()
    assert len(listed.data) == 1
    # A request that failed validation is not saved: the same key works once the request is fixed.
    bad = b"mode=payment&line_items[0][price]=price_missing&line_items[0][quantity]=1"
    headers["Idempotency-Key"] = "idem-2"
    assert sim_stack.request("POST", "/_stripe/v1/checkout/sessions", bad, headers)[0] == 400
    fixed, _, made = sim_stack.request("POST", "/_stripe/v1/checkout/sessions", form, headers)
    assert fixed == 200 and json.loads(made)["id"] != json.loads(b1)["id"]


def test_session_validation_errors(sim_stack: SimStack, prices: dict[str, str]) -> None:
    client = sim_stack.client()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params={"mode": "payment"})
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        400,
        "parameter_missing",
        "line_items",
    )
    with pytest.raises(stripe.InvalidRequestError) as bad_price:
        client.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": "price_nope", "quantity": 1}]}
        )
    assert (bad_price.value.code, bad_price.value.param) == ("resource_missing", "line_items[0][price]")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        unknown_param: Any = {
            "mode": "payment",
            "line_items": [{"price": prices["standard"], "quantity": 1}],
            "colour": "x",
        }
        client.v1.checkout.sessions.create(params=unknown_param)
    assert unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as expiry:
        new_session(sim_stack, prices["standard"], expires_at=int(sim_stack.clock.now) + 60)
    assert expiry.value.param == "expires_at"
    ok = new_session(sim_stack, prices["pro"], expires_at=int(sim_stack.clock.now) + 3600)
    assert (ok.expires_at, ok.amount_total) == (int(sim_stack.clock.now) + 3600, 8900)


# --- paying and webhooks -------------------------------------------------------------------------------------


def test_pay_delivers_a_signed_completed_event(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"], customer_email="pay@example.com")
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/pay")
    assert status == 200, out
    assert out["redirect"] == f"http://shop.test/done?session_id={session.id}"
    # As on Stripe, the payment's own events come first and the session's completion last.
    assert [(d["type"], d["status"]) for d in out["deliveries"]] == [(t, 200) for t in CARD_PAYMENT]
    assert out["deliveries"][-1]["event_id"] == out["event_id"]
    assert sim_stack.receiver.types() == CARD_PAYMENT
    headers, body = sim_stack.receiver.deliveries[-1]
    assert headers["content-type"].startswith("application/json")
    event = verified(headers, body)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"paid", b"PAID"), headers["stripe-signature"], SECRET)
    raw = json.loads(body)
    assert set(raw) == {
        "id",
        "object",
        "api_version",
        "created",
        "data",
        "livemode",
        "pending_webhooks",
        "request",
        "type",
    }
    assert raw["id"] == out["event_id"] and raw["id"].startswith("evt_")
    assert (raw["object"], raw["api_version"], raw["livemode"], raw["pending_webhooks"]) == (
        "event",
        "2026-05-27.dahlia",
        False,
        1,
    )
    assert raw["request"] == {"id": None, "idempotency_key": None}
    assert isinstance(raw["created"], int)
    assert event.type == "checkout.session.completed"
    obj = raw["data"]["object"]
    assert (obj["id"], obj["status"], obj["payment_status"]) == (session.id, "complete", "paid")
    assert obj["metadata"] == {"user_id": "user-1", "bundle": "standard", "credits": "2000"}
    assert obj["client_reference_id"] == "user-1" and obj["amount_total"] == 1990
    assert obj["customer_details"]["email"] == "pay@example.com"
    assert obj["payment_intent"] == out["payment_intent"]
    client = sim_stack.client()
    intent = client.v1.payment_intents.retrieve(obj["payment_intent"])
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 1990, 1990)
    assert intent.metadata.to_dict()["user_id"] == "user-1"
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert (charge.status, charge.paid, charge.amount_refunded, charge.payment_intent) == (
        "succeeded",
        True,
        0,
        intent.id,
    )
    assert client.v1.checkout.sessions.retrieve(session.id).url is None
    # A completed session cannot be paid again.
    again, err = sim_stack.sim_post(f"/checkout/{session.id}/pay")
    assert again == 400
    assert err["error"]["type"] == "invalid_request_error" and "complete" in err["error"]["message"]
    assert len(sim_stack.receiver.deliveries) == len(CARD_PAYMENT)


def test_async_payment_then_success_and_failure(sim_stack: SimStack, prices: dict[str, str]) -> None:
    ok = new_session(sim_stack, prices["standard"])
    status, out = sim_stack.sim_post(f"/checkout/{ok.id}/pay", {"async": True})
    assert status == 200
    completed = sim_stack.receiver.events()[-1]
    assert completed["type"] == "checkout.session.completed"
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    intent = sim_stack.client().v1.payment_intents.retrieve(out["payment_intent"])
    assert intent.status == "processing"
    status, res = sim_stack.sim_post(f"/checkout/{ok.id}/async_result", {"succeeded": True})
    assert (status, res["payment_status"]) == (200, "paid")
    event = sim_stack.receiver.events()[-1]
    assert event["type"] == "checkout.session.async_payment_succeeded"
    assert event["id"] == res["event_id"] and event["data"]["object"]["payment_status"] == "paid"
    assert sim_stack.client().v1.payment_intents.retrieve(out["payment_intent"]).status == "succeeded"
    # Only one result per payment.
    assert sim_stack.sim_post(f"/checkout/{ok.id}/async_result", {"succeeded": True})[0] == 400

    bad = new_session(sim_stack, prices["standard"])
    _, out2 = sim_stack.sim_post(f"/checkout/{bad.id}/pay", {"async": True})
    status, res = sim_stack.sim_post(f"/checkout/{bad.id}/async_result", {"succeeded": False})
    assert (status, res["payment_status"]) == (200, "unpaid")
    event = sim_stack.receiver.events()[-1]
    assert event["type"] == "checkout.session.async_payment_failed"
    charge = sim_stack.client().v1.charges.retrieve(
        sim_stack.client().v1.payment_intents.retrieve(out2["payment_intent"]).latest_charge  # type: ignore[arg-type]
    )
    assert (charge.status, charge.paid) == ("failed", False)
    # A card payment has no async result to simulate.
    card = new_session(sim_stack, prices["standard"])
    sim_stack.sim_post(f"/checkout/{card.id}/pay")
    assert sim_stack.sim_post(f"/checkout/{card.id}/async_result", {"succeeded": True})[0] == 400
    assert sim_stack.sim_post(f"/checkout/{card.id}/async_result", {})[0] == 400


def test_expire_cancel_and_auto_expiry(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"])
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/cancel")
    assert (status, out["redirect"]) == (200, "http://shop.test/cancelled")
    assert sim_stack.receiver.deliveries == []  # Stripe sends nothing when a customer leaves
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/expire")
    assert status == 200
    event = sim_stack.receiver.events()[-1]
    assert (event["type"], event["id"]) == ("checkout.session.expired", out["event_id"])
    assert event["data"]["object"]["status"] == "expired"
    assert sim_stack.sim_post(f"/checkout/{session.id}/pay")[0] == 400
    assert sim_stack.sim_post(f"/checkout/{session.id}/expire")[0] == 400

    # Through the API, as the service would, with the request recorded on the event.
    other = new_session(sim_stack, prices["standard"])
    expired = sim_stack.client().v1.checkout.sessions.expire(other.id, options={"idempotency_key": "exp-1"})
    assert expired.status == "expired"
    event = sim_stack.receiver.events()[-1]
    assert event["data"]["object"]["id"] == other.id
    assert event["request"]["idempotency_key"] == "exp-1" and event["request"]["id"].startswith("req_")

    # Stripe expires sessions on its own at expires_at.
    late = new_session(sim_stack, prices["standard"])
    sim_stack.clock.now += 24 * 3600 + 1
    assert sim_stack.client().v1.checkout.sessions.retrieve(late.id).status == "expired"
    assert sim_stack.receiver.events()[-1]["data"]["object"]["id"] == late.id


def test_refunds_partial_then_full(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    status, out = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 500})
    assert status == 200, out
    events = sim_stack.receiver.events()[-4:]
    assert [e["type"] for e in events] == REFUND
    assert [e["id"] for e in events] == out["event_ids"]
    refund, charge = events[0]["data"]["object"], events[3]["data"]["object"]
    assert (refund["id"], refund["amount"], refund["payment_intent"], refund["status"]) == (
        out["refund_id"],
        500,
        pi,
        "succeeded",
    )
    assert (charge["amount_refunded"], charge["refunded"], charge["payment_intent"]) == (500, False, pi)
    assert charge["metadata"] == {"user_id": "user-1", "bundle": "standard", "credits": "2000"}
    assert events[3]["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    # refund.updated: the card network's reference for the refund became available.
    assert events[1]["data"]["object"]["destination_details"]["card"]["reference_status"] == "available"
    too_much, err = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 1491})
    assert (too_much, err["error"]["code"]) == (400, "amount_too_large")
    status, out2 = sim_stack.sim_post(f"/payment_intents/{pi}/refund")
    assert status == 200
    charge = sim_stack.receiver.events()[-1]["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (1990, True)
    assert sim_stack.client().v1.refunds.retrieve(out2["refund_id"]).amount == 1490
    done, err = sim_stack.sim_post(f"/payment_intents/{pi}/refund")
    assert (done, err["error"]["code"]) == (400, "charge_already_refunded")
    refunds = StripeGateway(KEY, api_base=sim_stack.api_base).list_refunds(payment_intent=pi)
    assert sorted(r["amount"] for r in refunds) == [500, 1490]
    assert all(isinstance(r, dict) and r["payment_intent"] == pi for r in refunds)
    assert StripeGateway(KEY, api_base=sim_stack.api_base).list_refunds(payment_intent="pi_other") == []


def test_refund_through_the_api(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    client = sim_stack.client()
    refund = client.v1.refunds.create(params={"payment_intent": pi, "amount": 990})
    assert (refund.amount, refund.payment_intent, refund.object) == (990, pi, "refund")
    assert sim_stack.receiver.types()[-4:] == REFUND
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"payment_intent": pi, "amount": 1001})
    assert exc.value.code == "amount_too_large"
    listed = client.v1.refunds.list(params={"charge": str(client.v1.payment_intents.retrieve(pi).latest_charge)})
    assert [r.id for r in listed.data] == [refund.id]


def test_dispute(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    status, out = sim_stack.sim_post(f"/payment_intents/{pi}/dispute")
    assert status == 200, out
    event = sim_stack.receiver.events()[-2]
    assert (event["type"], event["id"]) == ("charge.dispute.created", out["event_id"])
    assert sim_stack.receiver.types()[-1] == "charge.dispute.funds_withdrawn"
    dispute = event["data"]["object"]
    charge_id = sim_stack.client().v1.payment_intents.retrieve(pi).latest_charge
    assert (
        dispute["id"],
        dispute["object"],
        dispute["charge"],
        dispute["payment_intent"],
        dispute["amount"],
    ) == (
        out["dispute_id"],
        "dispute",
        charge_id,
        pi,
        1990,
    )
    assert sim_stack.sim_post(f"/payment_intents/{pi}/dispute")[0] == 400
    assert sim_stack.sim_post(f"/payment_intents/{pi}/refund")[1]["error"]["code"] == "charge_disputed"


def test_resend_sends_the_same_event_with_a_fresh_signature() -> None:
    signing = {"t": time.time()}
    stack = new_stack(signing_clock=lambda: signing["t"])
    try:
        price = client_for(stack.api_base).v1.prices.create(
            params={"product_data": {"name": "Resend"}, "unit_amount": 500, "currency": "usd"}
        )
        session = new_session(stack, price.id)
        _, out = stack.sim_post(f"/checkout/{session.id}/pay", {"deliver": False})
        stack.sim_post(f"/events/{out['event_id']}/resend")
        signing["t"] += 7
        status, res = stack.sim_post(f"/events/{out['event_id']}/resend")
        assert (status, res["event_id"], res["status"]) == (200, out["event_id"], 200)
        assert res["deliveries"] == [{"event_id": out["event_id"], "type": "checkout.session.completed", "status": 200}]
        (h1, b1), (h2, b2) = stack.receiver.deliveries
        assert b1 == b2
        assert h1["stripe-signature"] != h2["stripe-signature"]
        t1 = int(h1["stripe-signature"].split(",")[0][2:])
        t2 = int(h2["stripe-signature"].split(",")[0][2:])
        assert t2 == t1 + 7
        assert verified(h2, b2).id == verified(h1, b1).id == out["event_id"]
        missing = stack.sim_post("/events/evt_nope/resend")
        assert (missing[0], missing[1]["error"]["code"]) == (404, "resource_missing")
    finally:
        stack.close()


def test_deliver_false_records_without_delivering(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"])
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/pay", {"deliver": False})
    assert status == 200 and out["deliveries"] == []
    assert sim_stack.receiver.deliveries == []
    event = sim_stack.client().v1.events.retrieve(out["event_id"])
    assert (event.type, event.pending_webhooks) == ("checkout.session.completed", 1)
    assert sim_stack.sim.delivery(out["event_id"]) == {
        "attempts": [],
        "status": None,
        "delivered": False,
        "suppressed": True,
    }
    listed = sim_stack.client().v1.events.list(params={"type": "checkout.session.completed"})
    assert [e.id for e in listed.data] == [out["event_id"]]
    # The lost webhook is recovered by a resend.
    assert sim_stack.sim_post(f"/events/{out['event_id']}/resend")[1]["status"] == 200
    assert verified(*sim_stack.receiver.deliveries[0]).id == out["event_id"]
    assert sim_stack.client().v1.events.retrieve(out["event_id"]).pending_webhooks == 0
    _, _, seen = sim_stack.request("GET", f"/_stripe/events/{out['event_id']}")
    assert json.loads(seen)["_delivery"]["delivered"] is True


def test_retries_on_5xx_and_connection_errors(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"])
    _, out = sim_stack.sim_post(f"/checkout/{session.id}/pay", {"deliver": False})
    event_id = out["event_id"]
    sim_stack.receiver.queue[:] = [500, 503]
    assert sim_stack.sim_post(f"/events/{event_id}/resend")[1]["status"] == 200
    assert len(sim_stack.receiver.deliveries) == 3
    record = sim_stack.sim.delivery(event_id)
    assert record is not None
    assert [a["status"] for a in record["attempts"]] == [500, 503, 200]
    assert record["delivered"] is True and record["status"] == 200

    other = new_session(sim_stack, prices["standard"])
    _, out = sim_stack.sim_post(f"/checkout/{other.id}/pay", {"deliver": False})
    event_id = out["event_id"]
    sim_stack.receiver.queue[:] = [500, 500, 500, 500]
    assert sim_stack.sim_post(f"/events/{event_id}/resend")[1]["status"] == 500
    record = sim_stack.sim.delivery(event_id)
    assert record is not None and [a["status"] for a in record["attempts"]] == [500, 500, 500]
    assert record["delivered"] is False
    # 4xx is an answer, not an outage: no retry.
    sim_stack.receiver.queue[:] = [400]
    status, res = sim_stack.sim_post(f"/events/{event_id}/resend")
    assert (status, res["status"]) == (200, 400)
    record = sim_stack.sim.delivery(event_id)
    assert record is not None and len(record["attempts"]) == 4
    # The first outage answer was left in the queue: the next payment's first event is retried past it.
    sim_stack.receiver.queue[:] = [503]
    _, paid = sim_stack.sim_post(f"/checkout/{new_session(sim_stack, prices['standard']).id}/pay")
    assert [d["status"] for d in paid["deliveries"]] == [200] * len(CARD_PAYMENT)
    first = sim_stack.sim.delivery(paid["deliveries"][0]["event_id"])
    assert first is not None and [a["status"] for a in first["attempts"]] == [503, 200]

    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead_url = f"http://127.0.0.1:{closed.server_address[1]}/webhooks/stripe"
    closed.server_close()
    sim_stack.sim.webhook_url = dead_url
    third = new_session(sim_stack, prices["standard"])
    _, out = sim_stack.sim_post(f"/checkout/{third.id}/pay")
    assert [d["status"] for d in out["deliveries"]] == [None] * len(CARD_PAYMENT)
    record = sim_stack.sim.delivery(out["event_id"])
    assert record is not None and len(record["attempts"]) == 3
    assert all(a["status"] is None and a["error"] for a in record["attempts"])


# --- lists, errors, parsing ----------------------------------------------------------------------------------


def test_list_pagination_and_created_filter(sim_stack: SimStack, prices: dict[str, str]) -> None:
    start = int(sim_stack.clock.now)
    ids = []
    for i in range(5):
        sim_stack.clock.now = start + i * 10
        session = new_session(sim_stack, prices["standard"])
        sim_stack.sim_post(f"/checkout/{session.id}/pay")
        ids.append(session.id)
    new_session(sim_stack, prices["standard"])  # open: never in status=complete lists
    client = sim_stack.client()
    page = client.v1.checkout.sessions.list(params={"status": "complete", "limit": 2})
    assert [s.id for s in page.data] == [ids[4], ids[3]] and page.has_more is True
    assert page.url == "/v1/checkout/sessions"
    page2 = client.v1.checkout.sessions.list(params={"status": "complete", "limit": 2, "starting_after": ids[3]})
    assert [s.id for s in page2.data] == [ids[2], ids[1]] and page2.has_more is True
    last = client.v1.checkout.sessions.list(params={"status": "complete", "limit": 2, "starting_after": ids[1]})
    assert [s.id for s in last.data] == [ids[0]] and last.has_more is False
    before = client.v1.checkout.sessions.list(params={"status": "complete", "limit": 2, "ending_before": ids[1]})
    assert [s.id for s in before.data] == [ids[3], ids[2]]
    everything = client.v1.checkout.sessions.list(params={"status": "complete", "limit": 2}).auto_paging_iter()
    assert [s.id for s in everything] == ids[::-1]
    recent = client.v1.checkout.sessions.list(params={"status": "complete", "created": {"gte": start + 20}})
    assert [s.id for s in recent.data] == [ids[4], ids[3], ids[2]]
    strictly = client.v1.checkout.sessions.list(params={"created": {"gt": start + 20, "lt": start + 40}})
    assert [s.id for s in strictly.data] == [ids[3]]
    by_pi = client.v1.checkout.sessions.list(
        params={"payment_intent": str(client.v1.checkout.sessions.retrieve(ids[2]).payment_intent)}
    )
    assert [s.id for s in by_pi.data] == [ids[2]]
    # The gateway's reconciliation feed pages through all of them as plain dicts, bound inclusive.
    gateway = StripeGateway(KEY, api_base=sim_stack.api_base)
    feed = list(gateway.list_completed_sessions(created_after=start + 10))
    assert [s["id"] for s in feed] == [ids[4], ids[3], ids[2], ids[1]]
    assert all(type(s) is dict and type(s["metadata"]) is dict for s in feed)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.list(params={"limit": 101})


def test_price_list_filters(sim_stack: SimStack, prices: dict[str, str]) -> None:
    client = sim_stack.client()
    found = client.v1.prices.list(params={"lookup_keys": ["credits_pro_10000", "credits_starter_500"]})
    assert {p.id for p in found.data} == {prices["pro"], prices["starter"]}
    status, _, raw = sim_stack.request(
        "GET",
        "/_stripe/v1/prices?lookup_keys[]=credits_standard_2000&active=true",
        None,
        {"Authorization": f"Bearer {KEY}"},
    )
    body = json.loads(raw)
    assert status == 200 and [p["id"] for p in body["data"]] == [prices["standard"]]
    assert body["object"] == "list" and body["has_more"] is False and body["url"] == "/v1/prices"
    client.v1.prices.update(prices["pro"], params={"active": False})
    active = client.v1.prices.list(params={"active": True, "product": "credits_bundle"})
    assert {p.id for p in active.data} == {prices["standard"], prices["starter"]}
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.prices.create(
            params={
                "product": "credits_bundle",
                "unit_amount": 1,
                "currency": "usd",
                "lookup_key": "credits_pro_10000",
            }
        )
    assert taken.value.param == "lookup_key"


def test_error_shapes(sim_stack: SimStack) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    status, _, raw = sim_stack.request("GET", "/_stripe/v1/checkout/sessions/cs_test_missing", None, auth)
    assert status == 404
    assert json.loads(raw)["error"] | {"doc_url": None} == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "session",
        "message": "No such checkout.session: 'cs_test_missing'",
        "doc_url": None,
    }
    for headers in (
        {},
        {"Authorization": "Bearer sk_live_abcdefghijklmnop"},
        {"Authorization": "Bearer pk_test_x"},
    ):
        status, _, raw = sim_stack.request("GET", "/_stripe/v1/products", None, headers)
        error = json.loads(raw)["error"]
        assert status == 401 and error["type"] == "invalid_request_error"
        assert "API key" in error["message"] or "API Key" in error["message"]
        assert "abcdefghijkl" not in error["message"]
    with pytest.raises(stripe.AuthenticationError):
        sim_stack.client("sk_live_nope").v1.products.list()
    status, _, raw = sim_stack.request("GET", "/_stripe/v1/invoices", None, auth)
    assert status == 404 and "Unrecognized request URL" in json.loads(raw)["error"]["message"]
    status, _, raw = sim_stack.request("GET", "/_stripe/nowhere")
    assert status == 404 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, _, raw = sim_stack.request("POST", "/_stripe/checkout/cs_x/pay", b"{not json", {})
    assert status == 400 and json.loads(raw)["error"]["message"] == "Invalid JSON body."
    status, _, raw = sim_stack.request("POST", "/_stripe/v1/prices", b"currency=usd", auth)
    assert status == 400 and json.loads(raw)["error"]["code"] == "parameter_missing"
    status, _, raw = sim_stack.request("POST", "/_stripe/checkout/cs_nope/pay", b"{}", {})
    assert status == 404 and json.loads(raw)["error"]["code"] == "resource_missing"
    # curl -u sk_test_...: works too
    status, _, _ = sim_stack.request("GET", "/_stripe/v1/products", None, {"Authorization": "Basic c2tfdGVzdF94Og=="})
    assert status == 200


def test_checkout_page(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"], customer_email="a<b>@example.com")
    status, headers, raw = sim_stack.request("GET", f"/_stripe/checkout/{session.id}")
    page = raw.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for marker in (
        "data-testid=pay ",
        "data-testid=pay-async",
        "data-testid=card",
        "data-testid=authenticate",
        "<option value=4242424242424242 selected>",
        "<option value=4000002760003184>",
        "<option value=4000000000009995>",
        "data-testid=cancel",
        "$19.90",
        "Credits Bundle",
    ):
        assert marker in page
    assert "a&lt;b&gt;@example.com" in page and "a<b>@" not in page
    assert "http://" not in page.split("<script>")[0].split("</style>")[1]  # no CDN or external assets
    sim_stack.sim_post(f"/checkout/{session.id}/pay")
    page = sim_stack.request("GET", f"/_stripe/checkout/{session.id}")[2].decode()
    assert "can no longer be paid" in page and "disabled" in page
    assert sim_stack.request("GET", "/_stripe/checkout/cs_test_nope")[0] == 404


def test_concurrent_pays_complete_once(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"])
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(sim_stack.sim_post(f"/checkout/{session.id}/pay")[0]))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 7
    assert sim_stack.receiver.types() == CARD_PAYMENT
    assert (
        len(
            sim_stack.client()
            .v1.payment_intents.retrieve(
                sim_stack.client().v1.checkout.sessions.retrieve(session.id).payment_intent  # type: ignore[arg-type]
            )
            .id
        )
        > 3
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    receiver, clock = Receiver(), Clock()
    state = tmp_path / "data" / "stripe.json"
    sim, server, recorder = start_sim(receiver, clock, state_path=state)
    try:
        client = client_for(sim.api_base)
        price_ids = {r.bundle: r.price_id for r in setup(client=client)}
        stack = SimStack(sim=sim, base=sim.public_base, receiver=receiver, clock=clock, recorder=recorder)
        session, pi = paid_session(stack, price_ids)
        replayed_key: stripe.RequestOptions = {"idempotency_key": "persist-1"}
        made = client.v1.products.create(params={"name": "Extra"}, options=replayed_key)
        customer = client.v1.customers.create(params={"email": "kept@example.com"})
        endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    finally:
        server.shutdown()
        server.server_close()
    assert state.exists()
    sim2, server2, _ = start_sim(receiver, clock, state_path=state)
    try:
        client = client_for(sim2.api_base)
        again = client.v1.checkout.sessions.retrieve(session.id)
        assert (again.status, again.payment_intent) == ("complete", pi)
        assert client.v1.payment_intents.retrieve(pi).metadata.to_dict()["user_id"] == "user-1"
        assert [e.type for e in client.v1.events.list().data] == ["customer.created", *CARD_PAYMENT[::-1]]
        assert {r.bundle: r.price_id for r in setup(client=client)} == price_ids
        assert client.v1.products.create(params={"name": "Extra"}, options=replayed_key).id == made.id
        assert all(sim2.delivery(e["id"])["delivered"] for e in sim2.events())  # type: ignore[index]
        # Customers, endpoints and their secrets are kept: the endpoint still gets events, signed as before.
        assert client.v1.customers.retrieve(customer.id).email == "kept@example.com"
        before = len(receiver.deliveries)
        client.v1.refunds.create(params={"payment_intent": pi, "amount": 100})
        assert [e.type for e in signed_with(receiver.deliveries[before:], str(endpoint.secret))] == REFUND
    finally:
        server2.shutdown()
        server2.server_close()
        receiver.close()


def signed_with(deliveries: list[tuple[dict[str, str], bytes]], secret: str) -> list[Any]:
    """The deliveries whose signature verifies with ``secret`` (one receiver may serve several endpoints)."""
    out = []
    for headers, body in deliveries:
        try:
            out.append(verified(headers, body, secret))
        except stripe.SignatureVerificationError:
            continue
    return out


def test_corrupt_state_file_is_moved_aside(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    state.write_text("{oops")
    sim = StripeSimulator(public_base="http://127.0.0.1:1", webhook_url=None, webhook_secret=SECRET, state_path=state)
    assert sim.events() == []
    assert [p.name.startswith("stripe.json.corrupt-") for p in tmp_path.iterdir()] == [True]


def test_parse_form_nested_keys() -> None:
    parsed = parse_form(
        "line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price]=price_2"
        "&metadata[user_id]=u+1&metadata[0]=zero&lookup_keys[]=a&lookup_keys[]=b&created[gte]=5&expand[0]=x"
    )
    assert parsed == {
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "metadata": {"user_id": "u 1", "0": "zero"},
        "lookup_keys": ["a", "b"],
        "created": {"gte": "5"},
        "expand": ["x"],
    }


def test_gateway_maps_stripe_errors_without_leaking_the_key(sim_stack: SimStack, prices: dict[str, str]) -> None:
    bad = StripeGateway("sk_live_supersecretvalue123", api_base=sim_stack.api_base)
    with pytest.raises(PaymentProviderError) as exc:
        bad.create_checkout_session(
            user_id="u",
            email=None,
            bundle=standard(),
            success_url="http://x/ok",
            cancel_url="http://x/no",
            idempotency_key=None,
        )
    assert "supersecret" not in exc.value.message and "sk_live" not in exc.value.message
    assert isinstance(exc.value.__cause__, stripe.AuthenticationError)
    assert exc.value.status == 502 and exc.value.envelope()["error"]["code"] == "payment_provider_error"
    good = StripeGateway(KEY, api_base=sim_stack.api_base)
    with pytest.raises(StripeProviderError) as missing:
        good.retrieve_checkout_session("cs_test_unknown")
    assert (missing.value.http_status, missing.value.stripe_code) == (404, "resource_missing")
    # No customer_email param at all when there is no email.
    ref = good.create_checkout_session(
        user_id="u",
        email=None,
        bundle=standard(),
        success_url="http://x/ok",
        cancel_url="http://x/no",
        idempotency_key=None,
    )
    assert good.retrieve_checkout_session(ref.id)["customer_email"] is None
