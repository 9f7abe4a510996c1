"""Purchase edge cases end to end, through the local API, DynamoDB Local and the Stripe simulator.

Long user ids (a JWT ``sub`` of 201-256 characters is more than Stripe's 200-character ``client_reference_id``),
signed webhook bodies that are not events we handle, refunds that are canceled, and an expiring bundle's grant on
DynamoDB. What the simulator cannot produce (promotion codes, tax, a refund canceled after it succeeded) is covered
at unit level in tests/unit/test_purchase_verification.py, with the fake gateway of tests/fake_stripe.py.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import pytest
from test_purchases_api import SK, balance, buy, event_for, pay, post_event, session, sign, status


def long_user(length: int) -> str:
    return (f"user-{uuid.uuid4().hex}-" + "x" * 256)[:length]


def history(stack: Any, http: Any, user: str, entry_type: str | None = None) -> list[dict[str, Any]]:
    query = f"?type={entry_type}" if entry_type else ""
    r = http.get(stack.url(f"/credits/history{query}"), headers=stack.headers(user))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def standard_price(stack: Any, http: Any) -> str:
    prices = http.get(stack.url("/_stripe/v1/prices?lookup_keys[]=credits_standard_2000"), headers=SK).json()["data"]
    return prices[0]["id"]


# --- long user ids --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [201, 256])
def test_a_user_whose_sub_is_longer_than_200_characters_can_buy_and_is_credited_once(stack, http, length):
    user = long_user(length)
    sid = buy(stack, http, user)["session_id"]
    s = session(stack, http, sid)
    assert s["client_reference_id"] == "sha256_" + hashlib.sha256(user.encode()).hexdigest()
    assert len(s["client_reference_id"]) <= 200
    assert s["metadata"]["user_id"] == user
    out = pay(stack, http, sid)
    assert status(stack, http, user, sid) == "fulfilled"
    assert balance(stack, http, user)["balance"] == 2000
    for _ in range(2):  # redelivered: credited once
        assert http.post(stack.url(f"/_stripe/events/{out['event_id']}/resend")).json()["status"] == 200
    assert balance(stack, http, user)["balance"] == 2000
    assert [(e["type"], e["amount"], e["reference"]) for e in history(stack, http, user)] == [("purchase", 2000, sid)]


@pytest.mark.parametrize("reference", ["truncated", "other-users-digest"])
def test_a_session_whose_client_reference_does_not_match_the_long_user_is_not_credited(stack, http, reference):
    """A session made at Stripe with our metadata for a long user, but a client_reference_id that is not its digest
    (the id cut to 200 characters, or the digest of another user with the same first 200 characters)."""
    user = long_user(230)
    other = user[:200] + "-someone-else"
    value = user[:200] if reference == "truncated" else "sha256_" + hashlib.sha256(other.encode()).hexdigest()
    form = {"mode": "payment", "line_items[0][price]": standard_price(stack, http), "line_items[0][quantity]": "1",
            "success_url": "http://x/ok", "metadata[user_id]": user, "metadata[bundle]": "standard",
            "metadata[credits]": "2000", "client_reference_id": value,
            "payment_intent_data[metadata][user_id]": user, "payment_intent_data[metadata][bundle]": "standard"}
    created = http.post(stack.url("/_stripe/v1/checkout/sessions"), data=form, headers=SK)
    assert created.status_code == 200, created.text
    out = pay(stack, http, created.json()["id"], deliver=False)
    completed = http.get(stack.url(f"/_stripe/v1/events/{out['event_id']}"), headers=SK).json()
    r = post_event(stack, http, completed)
    assert (r.status_code, r.json()) == (200, {"received": True, "outcome": "mismatch"})
    assert balance(stack, http, user)["balance"] == 0 and balance(stack, http, other)["balance"] == 0
    assert history(stack, http, user) == []


# --- signed bodies that are not events we handle -----------------------------------------------------------------
@pytest.mark.parametrize("body", [[], {}, {"type": "checkout.session.completed", "data": {"object": "x"}},
                                  {"type": "checkout.session.completed", "id": "evt_no_data"}],
                         ids=["array", "empty-object", "object-not-a-dict", "data-missing"])
def test_signed_json_that_is_not_an_event_is_acknowledged_as_ignored(stack, http, body):
    r = post_event(stack, http, body)
    assert (r.status_code, r.json()) == (200, {"received": True, "outcome": "ignored: malformed"})


@pytest.mark.parametrize("payload", [b"not json", b"{", b'{"type": "checkout.session.completed",'])
def test_a_signed_body_that_is_not_json_is_a_400_invalid_signature(stack, http, payload):
    r = http.post(stack.url("/webhooks/stripe"), data=payload,
                  headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("kind", ["charge.refunded", "refund.updated", "charge.dispute.created"])
def test_a_signed_refund_or_dispute_event_naming_an_absurdly_long_payment_intent_is_acknowledged(stack, http, kind):
    """Stripe ids are at most 255 characters; one of 2,041 makes ``PAYMENT#<pi>`` longer than a DynamoDB key may be."""
    obj = {"id": "re_test_long", "object": "refund", "payment_intent": "pi_" + "x" * 2038}
    r = post_event(stack, http, event_for(obj, kind))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"].startswith("ignored")


@pytest.mark.parametrize("kind", ["checkout.session.completed", "payment_intent.succeeded"])
def test_a_signed_event_naming_an_object_id_longer_than_stripe_makes_is_ignored_as_malformed(stack, http, kind):
    obj = {"id": "cs_" + "x" * 300, "object": "checkout.session"}
    r = post_event(stack, http, event_for(obj, kind))
    assert (r.status_code, r.json()["outcome"]) == (200, "ignored: malformed"), r.text


# --- canceled refunds -----------------------------------------------------------------------------------------
def cancel_refund(stack: Any, http: Any, refund_id: str) -> dict[str, Any]:
    r = http.post(stack.url(f"/_stripe/v1/refunds/{refund_id}/cancel"), headers=SK)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_refund_canceled_while_it_required_action_never_claws_back(stack, http, user):
    """Stripe cancels only ``requires_action`` refunds: they were never succeeded, so never counted."""
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    done = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995}).json()
    assert balance(stack, http, user)["balance"] == 1000
    waiting = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"),
                        json={"amount": 995, "requires_action": True}).json()
    assert waiting["status"] == "requires_action"
    assert balance(stack, http, user)["balance"] == 1000  # not succeeded: not taken back
    assert cancel_refund(stack, http, waiting["refund_id"])["status"] == "canceled"
    events = http.get(stack.url("/_stripe/v1/events?type=refund.updated&limit=10"), headers=SK).json()["data"]
    updated = [e for e in events if e["type"] == "refund.updated" and e["data"]["object"]["id"] == waiting["refund_id"]]
    assert updated and updated[0]["data"]["object"]["status"] == "canceled"
    delivered = http.get(stack.url(f"/_stripe/events/{updated[0]['id']}"), headers=SK).json()["_delivery"]
    assert delivered["status"] == 200
    assert balance(stack, http, user)["balance"] == 1000  # the succeeded refund keeps its clawback, nothing more
    assert status(stack, http, user, sid) == "refunded"
    for event_id in [*done["event_ids"], *waiting["event_ids"], updated[0]["id"]]:
        http.post(stack.url(f"/_stripe/events/{event_id}/resend"))
    assert balance(stack, http, user)["balance"] == 1000
    assert [e["amount"] for e in history(stack, http, user, "refund")] == [-1000]
    assert history(stack, http, user, "restore") == []
    # The rest refunded later still takes the rest: the canceled refund is not counted either way.
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={})
    assert balance(stack, http, user)["balance"] == 0


def test_a_forged_canceled_refund_event_cannot_undo_a_clawback(stack, http, user):
    """A signed refund.updated that says ``canceled`` about a refund that succeeded at Stripe restores nothing."""
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    refund = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995}).json()
    forged = {"id": refund["refund_id"], "object": "refund", "amount": 995, "payment_intent": pi, "status": "canceled"}
    r = post_event(stack, http, event_for(forged, "refund.updated"))
    assert (r.status_code, r.json()["outcome"]) == (200, "duplicate")
    assert balance(stack, http, user)["balance"] == 1000 and history(stack, http, user, "restore") == []
    assert status(stack, http, user, sid) == "refunded"


# --- an expiring bundle, on DynamoDB --------------------------------------------------------------------------
def test_an_expiring_bundle_bought_through_the_webhook_route_is_a_grant_expiring_n_days_after_fulfilment(
        stack, http, user):
    """The shipped catalog has no expiring bundle and the simulator only sells the shipped prices, so the webhook
    route is given a purchase service with its own catalog, the stack's DynamoDB stores and a fake gateway
    (bootstrap.override): the expiry must survive the DynamoDB purchase record between checkout and fulfilment."""
    from credits import bootstrap
    from credits.ids import iso_ms
    from credits.purchases import PurchaseService
    from tests.fake_stripe import WEBHOOK_SECRET, FakeGateway, catalog_with

    gateway = FakeGateway()
    opened_at = [float(int(time.time()))]
    catalog = catalog_with(monthly={"name": "Monthly", "credits": 3000, "unit_amount": 2500, "currency": "usd",
                                    "lookup_key": "credits_monthly_3000", "expires_after_days": 30})
    service = PurchaseService(bootstrap.grants(), bootstrap.purchase_store(), catalog, lambda: gateway,
                              dashboard_url=stack.url(""), webhook_secret=lambda: WEBHOOK_SECRET,
                              clock=lambda: opened_at[0])
    with bootstrap.override(purchases=service):
        sid = buy(stack, http, user, bundle="monthly")["session_id"]
        opened_at[0] += 3600  # paid an hour later
        gateway.pay(sid)
        payload = json.dumps(event_for({"id": sid, "object": "checkout.session"}, "checkout.session.completed"))
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload.encode(), secret=WEBHOOK_SECRET)}
        r = http.post(stack.url("/webhooks/stripe"), data=payload, headers=headers)
        assert (r.status_code, r.json()["outcome"]) == (200, "fulfilled"), r.text
        assert status(stack, http, user, sid) == "fulfilled"
    grants = http.get(stack.url("/credits/grants"), headers=stack.headers(user)).json()["grants"]
    assert [(g["category"], g["source"], g["amount"], g["expires_at"]) for g in grants] == [
        ("paid", "purchase", 3000, iso_ms(int(opened_at[0] * 1000) + 30 * 86_400_000))]
    assert balance(stack, http, user)["expiring"] == {"amount": 3000, "at": grants[0]["expires_at"]}
