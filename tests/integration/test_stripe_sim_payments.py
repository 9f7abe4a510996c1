"""The simulator's customers, saved cards, Stripe's test cards, off-session PaymentIntents, webhook endpoints
and events list, driven through the real ``stripe`` library."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import stripe

from tests.stripe_sim_support import SECRET, Receiver, SimStack, new_session, verified

pytestmark = pytest.mark.timeout(30)
AUTH_CARD, DECLINED_CARD = "4000002760003184", "4000000000009995"


def saved_card(stack: SimStack, price_id: str, card: str = "4242424242424242") -> tuple[str, str, dict[str, Any]]:
    """A customer whose card was saved by a Checkout payment: (customer id, payment method id, pay answer)."""
    customer = stack.client().v1.customers.create(params={"email": "saver@example.com"})
    session = new_session(stack, price_id, customer=customer.id,
                          payment_intent_data={"setup_future_usage": "off_session"})
    status, out = stack.sim_post(f"/checkout/{session.id}/pay", {"card": card})
    assert status == 200, out
    return customer.id, out["payment_method"], out


def recharge(customer: str, pm: str, **extra: Any) -> Any:
    return {"amount": 1990, "currency": "usd", "customer": customer, "payment_method": pm, "off_session": True,
            "confirm": True, "metadata": {"kind": "recharge", "recharge_id": "user-1#1"},
            "description": "Auto-recharge", **extra}


# --- customers and saved cards ---------------------------------------------------------------------------


def test_customer_create_retrieve_update_list_and_delete(sim_stack: SimStack) -> None:
    client = sim_stack.client()
    customer = client.v1.customers.create(params={"email": "c@example.com", "name": "Cee",
                                                  "metadata": {"user_id": "u-1"}})
    assert customer.id.startswith("cus_") and (customer.email, customer.name) == ("c@example.com", "Cee")
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"user_id": "u-1"}
    updated = client.v1.customers.update(customer.id, params={"name": "Sea", "metadata": {"tier": "gold"}})
    assert updated.metadata.to_dict() == {"user_id": "u-1", "tier": "gold"}
    events = sim_stack.receiver.events()
    assert [e["type"] for e in events] == ["customer.created", "customer.updated"]
    assert events[1]["data"]["previous_attributes"] == {"name": "Cee", "metadata": {"user_id": "u-1"}}
    client.v1.customers.create(params={"email": "other@example.com"})
    assert [c.id for c in client.v1.customers.list(params={"email": "c@example.com"}).data] == [customer.id]
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).to_dict() == {"id": customer.id, "object": "customer",
                                                                  "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.customers.update(customer.id, params={"name": "x"})
    assert gone.value.code == "resource_missing"


def test_checkout_with_a_customer_saves_the_card_on_it(sim_stack: SimStack, prices: dict[str, str]) -> None:
    customer, pm, out = saved_card(sim_stack, prices["standard"])
    assert [d["type"] for d in out["deliveries"]] == [
        "payment_intent.created", "payment_method.attached", "charge.succeeded", "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    client = sim_stack.client()
    intent = client.v1.payment_intents.retrieve(out["payment_intent"])
    assert (intent.payment_method, intent.customer, intent.setup_future_usage) == (pm, customer, "off_session")
    method = client.v1.payment_methods.retrieve(pm)
    assert (method.customer, method.type, method.card.brand, method.card.last4) == (  # type: ignore[union-attr]
        customer, "card", "visa", "4242")
    assert [m.id for m in client.v1.customers.payment_methods.list(customer).data] == [pm]
    assert [m.id for m in client.v1.payment_methods.list(params={"customer": customer, "type": "card"}).data] == [pm]
    session = client.v1.checkout.sessions.list(params={"customer": customer}).data[0]
    assert (session.customer, session.customer_details.email) == (customer, "saver@example.com")  # type: ignore[union-attr]
    with_default = client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": pm}})
    assert with_default.invoice_settings.default_payment_method == pm  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": "pm_nope"}})
    assert foreign.value.param == "invoice_settings[default_payment_method]"


def test_saving_a_card_without_a_customer_creates_one(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"], customer_email="new@example.com",
                          saved_payment_method_options={"payment_method_save": "enabled"})
    _, out = sim_stack.sim_post(f"/checkout/{session.id}/pay")
    assert out["customer"].startswith("cus_") and out["deliveries"][0]["type"] == "customer.created"
    method = sim_stack.client().v1.payment_methods.retrieve(out["payment_method"])
    assert (method.customer, method.allow_redisplay) == (out["customer"], "always")
    # Without saving, the card belongs to no one and the session has no customer.
    plain = new_session(sim_stack, prices["standard"])
    _, paid = sim_stack.sim_post(f"/checkout/{plain.id}/pay")
    assert paid["customer"] is None
    assert sim_stack.client().v1.payment_methods.retrieve(paid["payment_method"]).customer is None


def test_customer_together_with_customer_email_is_refused_as_stripe_does(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    customer = sim_stack.client().v1.customers.create(params={"email": "c@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as both:
        new_session(sim_stack, prices["standard"], customer=customer.id, customer_email="c@example.com")
    assert "customer, customer_email" in str(both.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        new_session(sim_stack, prices["standard"], customer="cus_missing")
    assert (missing.value.code, missing.value.param) == ("resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as hosted:
        new_session(sim_stack, prices["standard"], ui_mode="hosted")
    assert hosted.value.param == "ui_mode"
    assert new_session(sim_stack, prices["standard"], ui_mode="hosted_page").ui_mode == "hosted_page"


# --- Stripe's test cards on the Checkout page ------------------------------------------------------------


def test_declined_card_is_a_402_card_error_and_the_session_stays_open(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    session = new_session(sim_stack, prices["standard"])
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/pay", {"card": DECLINED_CARD})
    assert status == 402
    assert {k: out["error"][k] for k in ("type", "code", "decline_code")} == {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}
    assert sim_stack.receiver.deliveries == [] and sim_stack.sim.events() == []
    assert sim_stack.client().v1.checkout.sessions.retrieve(session.id).status == "open"
    assert sim_stack.sim_post(f"/checkout/{session.id}/pay", {"card": "4242 4242 4242 4242"})[0] == 200
    assert sim_stack.sim_post(f"/checkout/{new_session(sim_stack, prices['starter']).id}/pay",
                              {"card": "4111111111111111"})[0] == 400


def test_authentication_card_pays_on_the_page_after_3d_secure(sim_stack: SimStack, prices: dict[str, str]) -> None:
    session = new_session(sim_stack, prices["standard"])
    status, out = sim_stack.sim_post(f"/checkout/{session.id}/pay", {"card": AUTH_CARD})
    assert status == 200
    charge = sim_stack.client().v1.charges.retrieve(out["charge"]).to_dict()
    card = charge["payment_method_details"]["card"]
    assert (charge["status"], card["last4"], card["three_d_secure"]["result"]) == ("succeeded", "3184", "authenticated")


# --- off-session PaymentIntents --------------------------------------------------------------------------


def test_off_session_charge_of_the_saved_card_succeeds_once_per_idempotency_key(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    customer, pm, _ = saved_card(sim_stack, prices["standard"])
    client = sim_stack.client()
    before = len(sim_stack.receiver.deliveries)
    options: stripe.RequestOptions = {"idempotency_key": "recharge-user-1-1"}
    intent = client.v1.payment_intents.create(params=recharge(customer, pm), options=options)
    assert (intent.status, intent.amount_received, intent.payment_method) == ("succeeded", 1990, pm)
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (charge.status, charge.metadata.to_dict()["kind"], charge.customer) == ("succeeded", "recharge", customer)
    sent = sim_stack.receiver.events()[before:]
    assert [e["type"] for e in sent] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    assert {e["request"]["idempotency_key"] for e in sent} == {"recharge-user-1-1"}
    again = client.v1.payment_intents.create(params=recharge(customer, pm), options=options)
    assert again.id == intent.id and len(sim_stack.receiver.deliveries) == before + 3
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params=recharge(customer, pm, amount=2990), options=options)
    sim_stack.clock.now += 24 * 3600 + 1  # Stripe forgets keys after 24 hours
    assert client.v1.payment_intents.create(params=recharge(customer, pm), options=options).id != intent.id
    listed = client.v1.payment_intents.list(params={"customer": customer}).data
    assert len(listed) == 3 and all(pi.customer == customer for pi in listed)


def test_off_session_charge_of_the_authentication_card_fails_with_authentication_required(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    customer, pm, _ = saved_card(sim_stack, prices["standard"], card=AUTH_CARD)
    client = sim_stack.client()
    with pytest.raises(stripe.CardError) as failed:
        client.v1.payment_intents.create(params=recharge(customer, pm))
    error = failed.value.error
    assert failed.value.http_status == 402 and error is not None
    assert (error.code, error.decline_code) == ("authentication_required", "authentication_required")
    intent = error.payment_intent
    assert intent is not None and intent.status == "requires_payment_method" and intent.latest_charge is None
    assert intent.last_payment_error.code == "authentication_required"  # type: ignore[union-attr]
    event = sim_stack.receiver.events()[-1]
    assert event["type"] == "payment_intent.payment_failed"
    assert event["data"]["object"]["last_payment_error"]["payment_method"]["id"] == pm
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_off_session_charge_of_the_insufficient_funds_card_is_declined_with_a_failed_charge(
    sim_stack: SimStack,
) -> None:
    client = sim_stack.client()
    customer = client.v1.customers.create(params={"email": "broke@example.com"})
    method = client.v1.payment_methods.attach("pm_card_visa_chargeDeclinedInsufficientFunds",
                                              params={"customer": customer.id})
    assert (method.customer, method.card.last4) == (customer.id, "9995")  # type: ignore[union-attr]
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(params=recharge(customer.id, method.id))
    assert (declined.value.code, declined.value.error.decline_code) == (  # type: ignore[union-attr]
        "card_declined", "insufficient_funds")
    charge = client.v1.charges.retrieve(str(declined.value.error.charge))  # type: ignore[union-attr]
    assert (charge.status, charge.failure_code, charge.outcome.type) == (  # type: ignore[union-attr]
        "failed", "card_declined", "issuer_declined")
    assert sim_stack.receiver.types()[-2:] == ["charge.failed", "payment_intent.payment_failed"]


def test_a_detached_or_missing_payment_method_is_refused_without_a_charge(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    customer, pm, _ = saved_card(sim_stack, prices["standard"])
    client = sim_stack.client()
    client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": pm}})
    detached = client.v1.payment_methods.detach(pm)
    assert detached.customer is None
    assert sim_stack.receiver.types()[-2:] == ["payment_method.detached", "customer.updated"]
    assert client.v1.customers.retrieve(customer).invoice_settings.default_payment_method is None  # type: ignore[union-attr]
    charges = len(client.v1.charges.list(params={"customer": customer}).data)
    with pytest.raises(stripe.InvalidRequestError) as spent:
        client.v1.payment_intents.create(params=recharge(customer, pm))
    assert spent.value.param == "payment_method" and "detached" in str(spent.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.create(params=recharge(customer, "pm_missing"))
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert len(client.v1.charges.list(params={"customer": customer}).data) == charges
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.detach(pm)  # not attached any more
    with pytest.raises(stripe.InvalidRequestError) as unconfirmed:
        client.v1.payment_intents.create(params={"amount": 500, "currency": "usd", "off_session": True})
    assert unconfirmed.value.param == "off_session"


# --- webhook endpoints -----------------------------------------------------------------------------------


def test_webhook_endpoint_shows_its_secret_only_on_create(sim_stack: SimStack) -> None:
    client = sim_stack.client()
    made = client.v1.webhook_endpoints.create(params={
        "url": "https://hooks.example.com/stripe", "enabled_events": ["refund.updated", "charge.refunded"],
        "api_version": "2026-05-27.dahlia", "description": "credits", "metadata": {"stack": "dev"},
    })
    assert re.fullmatch(r"whsec_[A-Za-z0-9]{32}", str(made.secret))
    assert (made.status, made.api_version, made.enabled_events) == (
        "enabled", "2026-05-27.dahlia", ["refund.updated", "charge.refunded"])
    assert "secret" not in client.v1.webhook_endpoints.retrieve(made.id).to_dict()
    assert [w.id for w in client.v1.webhook_endpoints.list().data] == [made.id]
    assert all("secret" not in w.to_dict() for w in client.v1.webhook_endpoints.list().data)
    updated = client.v1.webhook_endpoints.update(made.id, params={
        "url": "https://hooks.example.com/v2", "enabled_events": ["*"], "disabled": True, "description": "paused",
        "metadata": {"stack": ""},
    })
    assert (updated.url, updated.enabled_events, updated.status, updated.metadata.to_dict()) == (
        "https://hooks.example.com/v2", ["*"], "disabled", {})
    with pytest.raises(stripe.InvalidRequestError) as fixed:
        client.v1.webhook_endpoints.update(made.id, params={"api_version": "2026-05-27.dahlia"})  # type: ignore[typeddict-unknown-key]
    assert fixed.value.code == "parameter_unknown"
    for bad in ({"enabled_events": ["charge.exploded"]}, {"enabled_events": []}, {"url": "ftp://x"},
                {"api_version": "2026-10-28.endive"}):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.webhook_endpoints.create(params={"url": "https://x.test", "enabled_events": ["*"], **bad})
    assert client.v1.webhook_endpoints.delete(made.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.webhook_endpoints.retrieve(made.id)
    assert gone.value.http_status == 404


def test_events_reach_each_matching_enabled_endpoint_signed_with_its_own_secret(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    client = sim_stack.client()
    only_completed, everything = Receiver("/completed"), Receiver("/all")
    try:
        a = client.v1.webhook_endpoints.create(params={"url": only_completed.url,
                                                       "enabled_events": ["checkout.session.completed"]})
        b = client.v1.webhook_endpoints.create(params={"url": everything.url, "enabled_events": ["*"]})
        _, out = sim_stack.sim_post(f"/checkout/{new_session(sim_stack, prices['standard']).id}/pay")
        assert [e["type"] for e in only_completed.events()] == ["checkout.session.completed"]
        assert everything.types() == sim_stack.receiver.types() and len(everything.deliveries) == 4
        headers, body = only_completed.deliveries[0]
        assert verified(headers, body, str(a.secret)).id == out["event_id"]
        with pytest.raises(stripe.SignatureVerificationError):
            verified(headers, body, SECRET)
        assert verified(*everything.deliveries[0], secret=str(b.secret)).type == "payment_intent.created"
        assert out["deliveries"][-1]["webhook_endpoints"] == {a.id: 200, b.id: 200}
        assert json.loads(body)["pending_webhooks"] == 3  # the default webhook and both endpoints
        assert client.v1.events.retrieve(out["event_id"]).pending_webhooks == 0
        client.v1.webhook_endpoints.update(b.id, params={"disabled": True})
        sim_stack.sim_post(f"/checkout/{new_session(sim_stack, prices['standard']).id}/pay")
        assert len(everything.deliveries) == 4 and len(only_completed.deliveries) == 2
        _, res = sim_stack.sim_post(f"/events/{out['event_id']}/resend", {"webhook_endpoint": a.id})
        assert res["status"] == 200 and len(only_completed.deliveries) == 3
        assert sim_stack.sim.delivery(out["event_id"], a.id)["delivered"] is True  # type: ignore[index]
        assert sim_stack.sim_post(f"/events/{out['event_id']}/resend", {"webhook_endpoint": "we_nope"})[0] == 404
    finally:
        only_completed.close()
        everything.close()


def test_events_list_filters_and_pages_newest_first(sim_stack: SimStack, prices: dict[str, str]) -> None:
    start = int(sim_stack.clock.now)
    for i in range(3):
        sim_stack.clock.now = start + 10 * i
        sim_stack.sim_post(f"/checkout/{new_session(sim_stack, prices['standard']).id}/pay")
    client = sim_stack.client()
    completed = client.v1.events.list(params={"type": "checkout.session.completed", "limit": 2})
    assert len(completed.data) == 2 and completed.has_more is True
    assert completed.data[0].created > completed.data[1].created
    rest = client.v1.events.list(params={"type": "checkout.session.completed", "starting_after": completed.data[1].id})
    assert len(rest.data) == 1 and rest.has_more is False
    both = client.v1.events.list(params={"types": ["charge.succeeded", "payment_intent.succeeded"], "limit": 100})
    assert sorted(e.type for e in both.data) == ["charge.succeeded"] * 3 + ["payment_intent.succeeded"] * 3
    recent = client.v1.events.list(params={"created": {"gte": start + 10}, "limit": 100})
    assert len(recent.data) == 8 and all(e.created >= start + 10 for e in recent.data)
    assert len(client.v1.events.list(params={"type": "payment_intent.*", "limit": 100}).data) == 6
    status, _, raw = sim_stack.request("GET", "/_stripe/v1/events?limit=1", None,
                                       {"Authorization": "Bearer sk_test_x"})
    assert status == 200 and json.loads(raw)["url"] == "/v1/events"
