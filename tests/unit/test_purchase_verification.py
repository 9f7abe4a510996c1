"""Paid Checkout sessions are verified against what was sold, then credited once (real PurchaseService, in-memory store,
a fake Stripe gateway and an injected clock).

The local simulator refuses ``discounts`` and ``automatic_tax`` and cannot cancel a refund that succeeded, and the
service reads its catalog from the shipped file; these cases need the fake gateway (tests/fake_stripe.py) and a
catalog handed to the service's constructor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest

from credits.ids import iso_ms
from credits.models import DEFAULT_PRIORITY
from credits.observability import metrics
from credits.purchases import PurchaseService
from credits.stripe_events import MAX_CLIENT_REFERENCE, client_reference
from tests.fake_stripe import World, catalog_with, event, make_world

DAY_MS = 86_400_000


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def counted() -> Iterator[Callable[[str], int]]:
    """How much a count metric grew during the test (the values ``count`` added, not flushed yet)."""
    metrics.clear_metrics()

    def total(name: str) -> int:
        return int(sum(metrics.metric_set.get(name, {}).get("Value", [])))

    yield total
    metrics.clear_metrics()


def buy(w: World, user: str, bundle: str = "standard", service: PurchaseService | None = None) -> str:
    return (service or w.purchases).start_checkout(user, bundle, email=None, idempotency_key=None).session_id


def completed(w: World, session_id: str) -> dict[str, object]:
    return event(w.gateway.sessions[session_id], "checkout.session.completed")


def balance(w: World, user: str) -> int:
    return w.ledger.balance(user).balance


# --- client_reference_id for long user ids (JWT sub up to 256 characters) -------------------------------------------
@pytest.mark.parametrize("length", [200, 201, 256])
def test_client_reference_is_the_user_up_to_200_characters_and_a_digest_beyond(w, length):
    user = ("u" * 190 + "-abcdefghijklmnopqrstuvwxyz0123456789" * 2)[:length]
    sid = buy(w, user)
    reference = w.gateway.sessions[sid]["client_reference_id"]
    if length <= MAX_CLIENT_REFERENCE:
        assert reference == user
    else:
        assert reference == "sha256_" + hashlib.sha256(user.encode()).hexdigest()
    assert len(reference) <= MAX_CLIENT_REFERENCE
    assert w.gateway.sessions[sid]["metadata"]["user_id"] == user  # the whole id, for the mapping back
    w.gateway.pay(sid)
    assert w.purchases.handle_event(completed(w, sid)) == "fulfilled"
    assert w.purchases.handle_event(completed(w, sid)) == "duplicate"
    assert balance(w, user) == 2000
    assert [(e.type, e.amount, e.reference) for e in w.entries(user)] == [("purchase", 2000, sid)]
    assert w.purchases.purchase_status(user, sid).status == "fulfilled"


@pytest.mark.parametrize("reference", ["truncated", "other-users-digest", "bare-hexdigest"])
def test_a_session_whose_client_reference_is_not_the_users_digest_is_a_mismatch(w, counted, reference):
    user = "a" * 200 + "-first"
    other = "a" * 200 + "-second"  # the same first 200 characters: the digest must still tell them apart
    assert client_reference(user) != client_reference(other)
    sid = buy(w, user)
    value = {"truncated": user[:200], "other-users-digest": client_reference(other),
             "bare-hexdigest": hashlib.sha256(user.encode()).hexdigest()}[reference]
    w.gateway.pay(sid, client_reference_id=value)
    assert w.purchases.handle_event(completed(w, sid)) == "mismatch"
    assert balance(w, user) == balance(w, other) == 0
    record = w.store.get_purchase(sid)
    assert record is not None and record.status == "pending" and record.fulfilled_at is None
    assert record.mismatch == "client_reference_id does not match the user"
    assert counted("FulfilmentMismatches") == 1


# --- verified against the purchase record, not today's catalog ------------------------------------------------------
def test_a_session_opened_before_a_price_change_is_credited_as_sold(w, counted):
    sid = buy(w, "u1")  # standard: 2,000 credits for 1990 cents
    repriced = w.with_catalog(catalog_with(standard={"unit_amount": 2490, "credits": 2500}))
    w.gateway.pay(sid)
    assert repriced.handle_event(completed(w, sid)) == "fulfilled"
    assert balance(w, "u1") == 2000
    [grant] = w.grants.list_grants("u1", status="all", limit=10, cursor=None).grants
    assert (grant.amount, grant.category, grant.source, grant.reference) == (2000, "paid", "purchase", sid)
    # A session opened after the change, credited by an instance that still has the old catalog: also as sold.
    later = buy(w, "u2", service=repriced)
    assert w.gateway.sessions[later]["amount_subtotal"] == 2490
    w.gateway.pay(later)
    assert w.purchases.handle_event(completed(w, later)) == "fulfilled"
    assert balance(w, "u2") == 2500
    assert counted("FulfilmentMismatches") == 0


@pytest.mark.parametrize(("discount", "tax"), [(500, 0), (0, 159), (300, 134), (1990, 0)],
                         ids=["promotion-code", "tax", "both", "free-with-code"])
def test_a_promotion_code_or_tax_changes_the_total_not_what_is_credited(w, counted, discount, tax):
    sid = buy(w, "u")
    # A 100% promotion code: Stripe collects nothing and the session has no payment intent.
    overrides = {"payment_status": "no_payment_required", "payment_intent": None} if discount == 1990 else {}
    w.gateway.pay(sid, discount=discount, tax=tax, **overrides)
    session = w.gateway.sessions[sid]
    assert (session["amount_subtotal"], session["amount_total"]) == (1990, 1990 - discount + tax)
    assert w.purchases.handle_event(completed(w, sid)) == "fulfilled"
    assert balance(w, "u") == 2000
    assert counted("FulfilmentMismatches") == 0
    assert counted("CreditsPurchased") == 2000


@pytest.mark.parametrize(("discount", "tax", "refund", "clawed"), [
    (500, 0, 745, 1000),  # paid 1490: half the money back is half the credits
    (0, 159, 2149, 2000),  # paid 2149 with tax: refunding all of it takes everything
    (0, 159, 1990, 1852),  # the pre-tax price refunded is not the whole payment: floor(2000 * 1990 / 2149)
])
def test_a_refund_is_measured_against_what_the_customer_paid(w, discount, tax, refund, clawed):
    sid = buy(w, "u")
    pi = w.gateway.pay(sid, discount=discount, tax=tax)
    w.purchases.handle_event(completed(w, sid))
    w.gateway.refund(pi, refund)
    assert w.purchases.handle_event(event({"id": "re_x", "payment_intent": pi}, "charge.refunded")) == "refunded"
    assert balance(w, "u") == 2000 - clawed
    record = w.store.get_purchase(sid)
    assert record is not None and (record.credits_clawed_back, record.refunded_amount) == (clawed, refund)


@pytest.mark.parametrize(("change", "why"), [
    ({"amount_subtotal": 1989}, "subtotal 1989 usd"),
    ({"amount_subtotal": 2490, "amount_total": 2490}, "subtotal 2490 usd"),
    ({"currency": "eur"}, "subtotal 1990 eur"),
    ({"amount_subtotal": None}, "subtotal None usd"),
], ids=["lower-subtotal", "higher-subtotal", "other-currency", "no-subtotal"])
def test_a_subtotal_or_currency_other_than_the_record_is_a_mismatch_that_credits_nothing(w, counted, change, why):
    sid = buy(w, "u")
    w.gateway.pay(sid, **change)
    assert w.purchases.handle_event(completed(w, sid)) == "mismatch"
    assert balance(w, "u") == 0 and w.entries("u") == []
    assert counted("FulfilmentMismatches") == 1 and counted("CreditsPurchased") == 0
    record = w.store.get_purchase(sid)
    assert record is not None and record.status == "pending" and record.fulfilled_at is None
    assert record.mismatch is not None and record.mismatch.startswith(why)
    assert w.purchases.purchase_status("u", sid).status == "pending"


def test_a_discounted_session_without_a_record_is_verified_against_its_line_items(w, counted):
    """No purchase record (made outside this service with our metadata): the line item's price is what was sold."""
    standard = w.catalog.get("standard")
    assert standard is not None

    def outside(user: str) -> str:  # the same session fields, created straight at Stripe: no purchase record
        return w.gateway.create_checkout_session(user_id=user, email=None, bundle=standard, success_url="x",
                                                 cancel_url="x", idempotency_key=None).id

    sid = outside("u")
    assert w.store.get_purchase(sid) is None
    w.gateway.pay(sid, discount=400, tax=100)
    assert w.purchases.handle_event(completed(w, sid)) == "fulfilled"
    assert balance(w, "u") == 2000
    other = outside("v")
    w.gateway.line_items[other][0]["price"]["lookup_key"] = "credits_starter_500"
    w.gateway.pay(other)
    assert w.purchases.handle_event(completed(w, other)) == "mismatch"
    assert balance(w, "v") == 0 and counted("FulfilmentMismatches") == 1


# --- refunds that do not end succeeded --------------------------------------------------------------------------
@pytest.mark.parametrize("end", ["canceled", "failed"])
def test_a_refund_that_ends_canceled_or_failed_after_it_was_applied_gives_its_clawback_back(w, counted, end):
    sid = buy(w, "u")
    pi = w.gateway.pay(sid)
    w.purchases.handle_event(completed(w, sid))
    refund = w.gateway.refund(pi, 995)
    assert w.purchases.handle_event(event(refund, "refund.created")) == "refunded"
    assert balance(w, "u") == 1000
    assert w.purchases.purchase_status("u", sid).status == "refunded"

    w.gateway.set_refund_status(pi, refund["id"], end)
    assert w.purchases.handle_event(event({**refund, "status": end}, "refund.updated")) == "restored"
    assert balance(w, "u") == 2000
    record = w.store.get_purchase(sid)
    assert record is not None
    assert (record.status, record.credits_clawed_back, record.refunded_amount) == ("fulfilled", 0, 0)
    [restore] = w.entries("u", "restore")
    assert (restore.amount, restore.grant_id, restore.reference) == (1000, record.grant_id, sid)
    assert counted("CreditsRefunded") == 1000 and counted("CreditsRestored") == 1000
    # Redelivered, in any order: nothing moves again.
    assert w.purchases.handle_event(event(refund, "refund.created")) == "duplicate"
    assert w.purchases.handle_event(event(refund, "charge.refunded")) == "duplicate"
    assert balance(w, "u") == 2000 and len(w.entries("u", "restore")) == 1


def test_a_canceled_full_refund_after_spending_repays_the_debt_first(w):
    sid = buy(w, "u")
    pi = w.gateway.pay(sid)
    w.purchases.handle_event(completed(w, sid))
    w.ledger.consume("u", 1500)
    refund = w.gateway.refund(pi, 1990)
    w.purchases.handle_event(event(refund, "refund.created"))
    assert w.ledger.balance("u").available == -1500  # 500 left taken from the grant, the spent 1500 became debt
    w.gateway.set_refund_status(pi, refund["id"], "canceled")
    assert w.purchases.handle_event(event(refund, "refund.updated")) == "restored"
    assert w.ledger.balance("u").available == 500
    grant = w.grants.grant("u", w.store.get_purchase(sid).grant_id)
    assert (grant.remaining, grant.spent, grant.clawed_back, grant.restored, grant.repaid_debt) == (500, 1500, 500,
                                                                                                2000, 1500)


def test_a_refund_that_never_succeeded_and_is_canceled_moves_nothing(w):
    sid = buy(w, "u")
    pi = w.gateway.pay(sid)
    w.purchases.handle_event(completed(w, sid))
    refund = w.gateway.refund(pi, 1990, status="requires_action")
    assert w.purchases.handle_event(event(refund, "refund.created")) == "duplicate"
    w.gateway.set_refund_status(pi, refund["id"], "canceled")
    assert w.purchases.handle_event(event(refund, "refund.updated")) == "duplicate"
    assert balance(w, "u") == 2000 and w.entries("u", "refund") == w.entries("u", "restore") == []


# --- bundles whose credits expire ---------------------------------------------------------------------------------
MONTHLY = {"name": "Monthly", "credits": 3000, "unit_amount": 2500, "currency": "usd",
           "lookup_key": "credits_monthly_3000", "expires_after_days": 30}


def test_a_bundle_with_expires_after_days_becomes_a_paid_grant_expiring_that_long_after_fulfilment():
    w = make_world(catalog_with(monthly=MONTHLY))
    sid = buy(w, "u", "monthly")
    w.later(3 * 3600)  # paid three hours after the session was opened: the clock starts at fulfilment
    w.gateway.pay(sid)
    fulfilled_ms = int(w.clock[0] * 1000)
    assert w.purchases.handle_event(completed(w, sid)) == "fulfilled"
    [grant] = w.grants.list_grants("u", status="all", limit=10, cursor=None).grants
    assert (grant.category, grant.source, grant.amount, grant.priority) == ("paid", "purchase", 3000,
                                                                            DEFAULT_PRIORITY)
    assert grant.expires_at == iso_ms(fulfilled_ms + 30 * DAY_MS)
    assert grant.created_at == iso_ms(fulfilled_ms)
    w.clock[0] = (fulfilled_ms + 30 * DAY_MS - 1) / 1000
    assert balance(w, "u") == 3000  # one millisecond before: still there
    w.clock[0] = (fulfilled_ms + 30 * DAY_MS) / 1000
    assert balance(w, "u") == 0
    [expiry] = w.entries("u", "expiry")
    assert (expiry.amount, expiry.grant_id) == (-3000, grant.grant_id)


def test_the_expiry_sold_is_kept_when_the_catalog_changes_before_fulfilment():
    w = make_world(catalog_with(monthly=MONTHLY))
    sid = buy(w, "u", "monthly")
    shorter = w.with_catalog(catalog_with(monthly={**MONTHLY, "expires_after_days": 7}))
    w.gateway.pay(sid)
    assert shorter.handle_event(completed(w, sid)) == "fulfilled"
    [grant] = w.grants.list_grants("u", status="all", limit=10, cursor=None).grants
    assert grant.expires_at == iso_ms(int(w.clock[0] * 1000) + 30 * DAY_MS)


def test_a_bundle_without_expires_after_days_never_expires(w):
    sid = buy(w, "u")
    w.gateway.pay(sid)
    w.purchases.handle_event(completed(w, sid))
    [grant] = w.grants.list_grants("u", status="all", limit=10, cursor=None).grants
    assert grant.expires_at is None
