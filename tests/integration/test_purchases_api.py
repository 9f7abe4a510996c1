"""Money in, end to end through the local API and the Stripe simulator (Stripe's shapes and signatures)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

SK = {"Authorization": "Bearer sk_test_inspect"}


def sign(payload: bytes, t: int | None = None, secret: str | None = None) -> str:
    t = int(time.time()) if t is None else t
    secret = secret or os.environ["STRIPE_WEBHOOK_SECRET"]
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def buy(stack: Any, http: Any, user: str, bundle: str = "standard", **headers: str) -> dict[str, Any]:
    r = http.post(stack.url("/credits/purchase"), json={"bundle": bundle},
                  headers=stack.headers(user, **headers))
    assert r.status_code == 200, r.text
    return r.json()


def pay(stack: Any, http: Any, session_id: str, **body: Any) -> dict[str, Any]:
    r = http.post(stack.url(f"/_stripe/checkout/{session_id}/pay"), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def session(stack: Any, http: Any, session_id: str) -> dict[str, Any]:
    return http.get(stack.url(f"/_stripe/v1/checkout/sessions/{session_id}"), headers=SK).json()


def status(stack: Any, http: Any, user: str, session_id: str) -> str:
    r = http.get(stack.url(f"/credits/purchases/{session_id}"), headers=stack.headers(user))
    assert r.status_code == 200, r.text
    return r.json()["status"]


def balance(stack: Any, http: Any, user: str) -> dict[str, Any]:
    return http.get(stack.url("/credits/balance"), headers=stack.headers(user)).json()


def post_event(stack: Any, http: Any, event: dict[str, Any], signature: str | None = None) -> Any:
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not False:
        headers["Stripe-Signature"] = signature or sign(payload)
    return http.post(stack.url("/webhooks/stripe"), data=payload, headers=headers)


def event_for(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return {"id": f"evt_test_{time.time_ns()}", "object": "event", "type": type_, "api_version": "2026-10-28",
            "created": int(time.time()), "livemode": False, "data": {"object": obj}}


def test_purchase_creates_a_checkout_session_from_the_server_catalog(stack, http, user):
    started = buy(stack, http, user, **{"Idempotency-Key": "buy-1"})
    assert started["url"].endswith(f"/_stripe/checkout/{started['session_id']}")
    s = session(stack, http, started["session_id"])
    assert (s["mode"], s["amount_total"], s["currency"], s["client_reference_id"]) == ("payment", 1990, "usd", user)
    assert s["metadata"] == {"user_id": user, "bundle": "standard", "credits": "2000"}
    assert s["success_url"] == stack.url("/?success=true&session_id={CHECKOUT_SESSION_ID}")
    assert s["cancel_url"] == stack.url("/?canceled=true")
    assert status(stack, http, user, started["session_id"]) == "pending"
    # The payment intent carries the same metadata, so refunds and disputes map back to the user.
    pi = http.get(stack.url(f"/_stripe/v1/payment_intents/{pay(stack, http, started['session_id'])['payment_intent']}"),
                  headers=SK).json()
    assert pi["metadata"] == {"user_id": user, "bundle": "standard", "credits": "2000"}


def test_customer_email_comes_from_the_jwt(stack, http, user):
    r = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"},
                  headers={"Authorization": f"Bearer {stack.token(user, 'pat@example.com')}"})
    assert session(stack, http, r.json()["session_id"])["customer_email"] == "pat@example.com"


def test_same_idempotency_key_returns_the_same_session(stack, http, user):
    a = buy(stack, http, user, **{"Idempotency-Key": "same"})
    b = buy(stack, http, user, **{"Idempotency-Key": "same"})
    assert (a["session_id"], a["url"]) == (b["session_id"], b["url"]) and b["replayed"] is True


def test_unknown_bundle_is_400_and_client_cannot_choose_price(stack, http, user):
    r = http.post(stack.url("/credits/purchase"), json={"bundle": "free-money"}, headers=stack.headers(user))
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_bundle"
    r = http.post(stack.url("/credits/purchase"), json={"bundle": "standard", "unit_amount": 1},
                  headers=stack.headers(user))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_pay_credits_once_and_status_becomes_fulfilled(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pay(stack, http, sid)
    assert status(stack, http, user, sid) == "fulfilled"
    assert balance(stack, http, user)["balance"] == 2000
    items = http.get(stack.url("/credits/history"), headers=stack.headers(user)).json()["items"]
    assert [(e["type"], e["amount"], e["reference"]) for e in items] == [("purchase", 2000, sid)]


def test_another_users_purchase_is_404(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    r = http.get(stack.url(f"/credits/purchases/{sid}"), headers=stack.headers(user + "-x"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_20_concurrent_redeliveries_plus_async_success_credit_once(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    event_id = pay(stack, http, sid, deliver=False)["event_id"]
    completed = http.get(stack.url(f"/_stripe/v1/events/{event_id}"), headers=SK).json()
    async_ok = event_for(completed["data"]["object"], "checkout.session.async_payment_succeeded")

    def deliver(i: int) -> int:
        if i == 20:
            return post_event(stack, http, async_ok).status_code
        return http.post(stack.url(f"/_stripe/events/{event_id}/resend")).json()["status"]

    with ThreadPoolExecutor(21) as pool:
        statuses = list(pool.map(deliver, range(21)))
    assert statuses == [200] * 21
    assert balance(stack, http, user)["balance"] == 2000
    items = http.get(stack.url("/credits/history?type=purchase"), headers=stack.headers(user)).json()["items"]
    assert len(items) == 1


@pytest.mark.parametrize("case", ["forged", "tampered", "stale", "missing", "garbage", "wrong-scheme", "empty"])
def test_bad_signatures_are_400_and_credit_nothing(stack, http, user, case):
    sid = buy(stack, http, user)["session_id"]
    event_id = pay(stack, http, sid, deliver=False)["event_id"]
    event = http.get(stack.url(f"/_stripe/v1/events/{event_id}"), headers=SK).json()
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload)}
    if case == "forged":
        headers["Stripe-Signature"] = sign(payload, secret="whsec_attacker")
    elif case == "tampered":
        payload = payload.replace(b'"amount_total": 1990', b'"amount_total": 1991')
    elif case == "stale":
        headers["Stripe-Signature"] = sign(payload, t=int(time.time()) - 3600)
    elif case == "missing":
        del headers["Stripe-Signature"]
    elif case == "garbage":
        payload = b"\x00\xffnot json"
        headers["Stripe-Signature"] = sign(payload)
    elif case == "wrong-scheme":
        headers["Stripe-Signature"] = "v1=" + "0" * 64
    elif case == "empty":
        payload = b""
    r = http.post(stack.url("/webhooks/stripe"), data=payload, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_signature", "invalid_request")
    assert balance(stack, http, user)["balance"] == 0
    assert status(stack, http, user, sid) == "pending"


@pytest.mark.parametrize(("field", "value"), [("amount_total", 1), ("currency", "eur"), ("metadata", {"bundle": "pro"}),
                                            ("payment_status", "paid")])
def test_a_signed_payload_is_not_the_source_of_truth(stack, http, user, field, value):
    """Whatever a (correctly signed) event says about a session, the service acts on the session Stripe returns."""
    sid = buy(stack, http, user)["session_id"]
    event_id = pay(stack, http, sid, deliver=False, **({"async": True} if field == "payment_status" else {}))[
        "event_id"]
    obj = http.get(stack.url(f"/_stripe/v1/events/{event_id}"), headers=SK).json()["data"]["object"]
    obj[field] = value if field != "metadata" else {**obj["metadata"], **value}
    r = post_event(stack, http, event_for(obj, "checkout.session.completed"))
    if field == "payment_status":  # Stripe says unpaid (async pending): nothing is credited yet
        assert r.json()["outcome"] == "pending" and balance(stack, http, user)["balance"] == 0
        return
    assert r.status_code == 200 and r.json()["outcome"] == "fulfilled"
    assert balance(stack, http, user)["balance"] == 2000  # the standard bundle Stripe sold, not what the payload says


def test_a_signed_event_about_a_session_stripe_does_not_know_moves_nothing(stack, http, user):
    made_up = {"id": "cs_test_made_up_by_someone", "object": "checkout.session", "mode": "payment",
               "payment_status": "paid", "status": "complete", "amount_total": 1990, "amount_subtotal": 1990,
               "currency": "usd", "client_reference_id": user,
               "metadata": {"user_id": user, "bundle": "pro", "credits": "10000"}}
    r = post_event(stack, http, event_for(made_up, "checkout.session.completed"))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored: unknown to Stripe"
    assert balance(stack, http, user)["balance"] == 0


def test_session_of_another_user_cannot_be_claimed(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    event_id = pay(stack, http, sid, deliver=False)["event_id"]
    obj = http.get(stack.url(f"/_stripe/v1/events/{event_id}"), headers=SK).json()["data"]["object"]
    thief = user + "-thief"
    obj["client_reference_id"] = thief
    obj["metadata"] = {**obj["metadata"], "user_id": thief}
    assert post_event(stack, http, event_for(obj, "checkout.session.completed")).json()["outcome"] == "fulfilled"
    assert balance(stack, http, thief)["balance"] == 0
    assert balance(stack, http, user)["balance"] == 2000


def test_a_session_with_our_metadata_at_another_price_is_a_mismatch(stack, http, user):
    """A session made outside the service (another price) with our metadata: verified against what we sold."""
    prices = http.get(stack.url("/_stripe/v1/prices?lookup_keys[]=credits_starter_500"), headers=SK).json()["data"]
    form = {"mode": "payment", "line_items[0][price]": prices[0]["id"], "line_items[0][quantity]": "1",
            "success_url": "http://x/ok", "metadata[user_id]": user, "metadata[bundle]": "standard",
            "metadata[credits]": "2000", "client_reference_id": user}
    created = http.post(stack.url("/_stripe/v1/checkout/sessions"), data=form, headers=SK)
    assert created.status_code == 200, created.text
    out = pay(stack, http, created.json()["id"])
    delivered = http.get(stack.url(f"/_stripe/events/{out['event_id']}"), headers=SK).json()
    assert delivered["_delivery"]["status"] == 200  # acknowledged (a retry would not help), alarmed, not credited
    assert balance(stack, http, user)["balance"] == 0


def test_async_payment_stays_pending_then_fails(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pay(stack, http, sid, **{"async": True})
    assert status(stack, http, user, sid) == "pending"
    http.post(stack.url(f"/_stripe/checkout/{sid}/async_result"), json={"succeeded": False})
    assert status(stack, http, user, sid) == "failed"
    assert balance(stack, http, user)["balance"] == 0


def test_async_payment_success_credits(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pay(stack, http, sid, **{"async": True})
    assert balance(stack, http, user)["balance"] == 0
    http.post(stack.url(f"/_stripe/checkout/{sid}/async_result"), json={"succeeded": True})
    assert status(stack, http, user, sid) == "fulfilled" and balance(stack, http, user)["balance"] == 2000


def test_expired_session_is_expired_and_late_expiry_never_unfulfils(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    assert http.post(stack.url(f"/_stripe/checkout/{sid}/expire")).status_code == 200
    assert status(stack, http, user, sid) == "expired"
    paid = buy(stack, http, user)["session_id"]
    pay(stack, http, paid)
    obj = session(stack, http, paid)
    post_event(stack, http, event_for(obj, "checkout.session.expired"))
    assert status(stack, http, user, paid) == "fulfilled"


def test_partial_then_full_refund_after_spending_makes_debt_repaid_by_a_purchase(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    assert http.post(stack.url("/credits/consume"), json={"amount": 1500}, headers=stack.headers(user)).status_code == 200

    assert http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995}).status_code == 200
    assert balance(stack, http, user)["available"] == 500 - 1000  # half the money back = half the credits
    assert status(stack, http, user, sid) == "refunded"  # while any credits of it are clawed back

    assert http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={}).status_code == 200
    b = balance(stack, http, user)
    assert (b["available"], b["balance"]) == (-1500, -1500)
    assert status(stack, http, user, sid) == "refunded"

    r = http.post(stack.url("/credits/consume"), json={"amount": 1}, headers=stack.headers(user))
    assert r.status_code == 402 and r.json()["error"]["available"] == -1500
    assert http.post(stack.url("/credits/holds"), json={"amount": 1}, headers=stack.headers(user)).status_code == 402

    pay(stack, http, buy(stack, http, user)["session_id"])
    assert balance(stack, http, user)["available"] == 500
    assert http.post(stack.url("/credits/consume"), json={"amount": 1}, headers=stack.headers(user)).status_code == 200
    refunds = http.get(stack.url("/credits/history?type=refund"), headers=stack.headers(user)).json()["items"]
    assert sorted(e["amount"] for e in refunds) == [-1000, -1000]


def test_refund_events_redelivered_do_not_double_count(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    out = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 500}).json()
    for event_id in out["event_ids"] * 3:
        assert http.post(stack.url(f"/_stripe/events/{event_id}/resend")).json()["status"] == 200
    assert balance(stack, http, user)["balance"] == 2000 - 2000 * 500 // 1990


def test_dispute_claws_back_the_rest(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995})
    assert balance(stack, http, user)["balance"] == 1000
    out = http.post(stack.url(f"/_stripe/payment_intents/{pi}/dispute"), json={}).json()
    assert balance(stack, http, user)["balance"] == 0
    http.post(stack.url(f"/_stripe/events/{out['event_id']}/resend"))
    assert balance(stack, http, user)["balance"] == 0
    assert status(stack, http, user, sid) == "refunded"


def test_dynamodb_failure_mid_fulfilment_is_5xx_then_the_retry_credits_once(stack, http, user):
    from botocore.exceptions import EndpointConnectionError

    sid = buy(stack, http, user)["session_id"]
    client = stack.ledger.store.table.client
    failures = []

    def fail_once(**_: Any) -> None:
        if not failures:
            failures.append(1)
            raise EndpointConnectionError(endpoint_url="http://dynamodb")

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", fail_once)
    try:
        out = pay(stack, http, sid)
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", fail_once)
    # The simulator retries like Stripe: first delivery got a 5xx, the retry credited.
    event = http.get(stack.url(f"/_stripe/v1/events/{out['event_id']}"), headers=SK).json()
    assert failures == [1]
    assert balance(stack, http, user)["balance"] == 2000
    http.post(stack.url(f"/_stripe/events/{event['id']}/resend"))
    assert balance(stack, http, user)["balance"] == 2000


def test_transient_failure_answers_5xx_with_envelope(stack, http, user):
    from botocore.exceptions import EndpointConnectionError

    sid = buy(stack, http, user)["session_id"]
    event_id = pay(stack, http, sid, deliver=False)["event_id"]
    event = http.get(stack.url(f"/_stripe/v1/events/{event_id}"), headers=SK).json()
    client = stack.ledger.store.table.client

    def fail(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://dynamodb")

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", fail)
    try:
        r = post_event(stack, http, event)
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", fail)
    assert r.status_code >= 500 and r.json()["error"]["code"] == "temporarily_unavailable"
    assert balance(stack, http, user)["balance"] == 0
    assert post_event(stack, http, event).status_code == 200
    assert balance(stack, http, user)["balance"] == 2000


def test_unknown_event_types_are_acknowledged(stack, http):
    r = post_event(stack, http, event_for({"id": "cus_1", "object": "customer"}, "customer.created"))
    assert r.status_code == 200 and r.json()["received"] is True


def test_reconciliation_credits_a_lost_webhook_once(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pay(stack, http, sid, deliver=False)
    assert balance(stack, http, user)["balance"] == 0
    first = http.post(stack.url("/_local/invoke/ReconcileFunction")).json()
    assert sid in first["fulfilled"]
    assert balance(stack, http, user)["balance"] == 2000
    second = http.post(stack.url("/_local/invoke/ReconcileFunction")).json()
    assert second["fulfilled"] == [] and second["checked"] >= 1
    assert balance(stack, http, user)["balance"] == 2000


def test_stripe_refusal_is_a_502_envelope_without_provider_details(stack, http, user):
    from credits import bootstrap
    from credits.purchases_wiring import build_purchase_service
    from credits.stripe_gateway import StripeGateway

    bad_key = "sk_live_not_a_real_key_0123456789"
    gateway = StripeGateway(bad_key, api_base=os.environ["STRIPE_API_BASE"])
    service = build_purchase_service(bootstrap.grants(), bootstrap.purchase_store(), gateway)
    saved = bootstrap.snapshot()
    bootstrap.configure(purchases=service)
    try:
        r = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"}, headers=stack.headers(user))
    finally:
        bootstrap.restore(saved)
    assert r.status_code == 502 and r.json()["error"]["code"] == "payment_provider_error"
    assert bad_key[-8:] not in r.text and "Traceback" not in r.text


def test_refunds_listed_together_then_the_rest_claw_back_everything(stack, http, user):
    """Regression: tiny refunds that move no whole credit must still count towards the refunded total."""
    sid = buy(stack, http, user, bundle="starter")["session_id"]  # 500 credits for 590 cents
    pi = pay(stack, http, sid)["payment_intent"]
    last = None
    for _ in range(2):
        last = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 1, "deliver": False}).json()
    charge_refunded = last["event_ids"][-1]
    assert http.post(stack.url(f"/_stripe/events/{charge_refunded}/resend")).json()["status"] == 200
    purchase = http.get(stack.url(f"/credits/purchases/{sid}"), headers=stack.headers(user)).json()
    assert purchase["refunded_amount"] == 2
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={})
    purchase = http.get(stack.url(f"/credits/purchases/{sid}"), headers=stack.headers(user)).json()
    assert (purchase["status"], purchase["refunded_amount"], purchase["credits_clawed_back"]) == ("refunded", 590, 500)
    assert balance(stack, http, user)["balance"] == 0


def test_a_dispute_before_fulfilment_fulfils_the_verified_session_then_claws_back(stack, http, user):
    """The completed webhook was lost; the dispute's event finds the session at Stripe, fulfils it, then claws back:
    no 503 loop, and nothing waits for reconciliation."""
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid, deliver=False)["payment_intent"]
    dispute = http.post(stack.url(f"/_stripe/payment_intents/{pi}/dispute"), json={}).json()
    delivery = http.get(stack.url(f"/_stripe/events/{dispute['event_id']}"), headers=SK).json()["_delivery"]
    assert delivery["status"] == 200
    assert balance(stack, http, user)["balance"] == 0
    assert status(stack, http, user, sid) == "refunded"
    assert http.post(stack.url("/_local/invoke/ReconcileFunction")).json()["fulfilled"] == []
    history = http.get(stack.url("/credits/history"), headers=stack.headers(user)).json()["items"]
    assert sorted((e["type"], e["amount"]) for e in history) == [("purchase", 2000), ("refund", -2000)]


def test_an_inquiry_moves_nothing(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    inquiry = http.post(stack.url(f"/_stripe/payment_intents/{pi}/dispute"), json={"inquiry": True}).json()
    assert balance(stack, http, user)["balance"] == 2000  # an inquiry withdraws no funds
    http.post(stack.url(f"/_stripe/disputes/{inquiry['dispute_id']}/close"), json={})
    assert balance(stack, http, user)["balance"] == 2000 and status(stack, http, user, sid) == "fulfilled"


def test_a_won_dispute_gives_everything_back_debt_first(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    http.post(stack.url("/credits/consume"), json={"amount": 500}, headers=stack.headers(user))
    real = http.post(stack.url(f"/_stripe/payment_intents/{pi}/dispute"), json={}).json()
    assert balance(stack, http, user)["available"] == -500  # funds withdrawn: the whole purchase, spent part as debt
    assert status(stack, http, user, sid) == "refunded"
    http.post(stack.url(f"/_stripe/disputes/{real['dispute_id']}/close"), json={"outcome": "won"})
    assert balance(stack, http, user)["available"] == 1500  # debt repaid first, the rest back to the grant
    assert status(stack, http, user, sid) == "fulfilled"
    restores = http.get(stack.url("/credits/history?type=restore"), headers=stack.headers(user)).json()["items"]
    assert [e["amount"] for e in restores] == [2000]
    grants = http.get(stack.url("/credits/grants"), headers=stack.headers(user)).json()["grants"]
    assert [(g["remaining"], g["clawed_back"], g["restored"], g["repaid_debt"]) for g in grants] == [
        (1500, 1500, 2000, 500)]
    for event in http.get(stack.url("/_stripe/v1/events?limit=30"), headers=SK).json()["data"]:
        http.post(stack.url(f"/_stripe/events/{event['id']}/resend"))  # every replay converges on the same state
    assert balance(stack, http, user)["available"] == 1500


def test_a_lost_dispute_keeps_its_clawback(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    dispute = http.post(stack.url(f"/_stripe/payment_intents/{pi}/dispute"), json={}).json()
    http.post(stack.url(f"/_stripe/disputes/{dispute['dispute_id']}/close"), json={"outcome": "lost"})
    assert balance(stack, http, user)["balance"] == 0 and status(stack, http, user, sid) == "refunded"


def test_a_refund_that_fails_after_it_was_applied_gives_its_credits_back(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    refund = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995}).json()
    assert balance(stack, http, user)["balance"] == 1000
    assert http.post(stack.url(f"/_stripe/refunds/{refund['refund_id']}/fail"), json={}).status_code == 200
    assert balance(stack, http, user)["balance"] == 2000
    assert status(stack, http, user, sid) == "fulfilled"


def test_a_signed_refund_with_a_negative_amount_cannot_undo_a_clawback(stack, http, user):
    """Amounts come from Stripe's refunds list, never from the payload."""
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995})
    forged = {"id": "re_forged", "object": "refund", "amount": -995, "payment_intent": pi, "status": "succeeded"}
    assert post_event(stack, http, event_for(forged, "refund.updated")).status_code == 200
    assert balance(stack, http, user)["balance"] == 1000
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={})  # the full refund still takes the rest
    assert balance(stack, http, user)["balance"] == 0


def test_a_refund_of_a_purchase_that_failed_verification_is_acknowledged_not_retried(stack, http, user):
    prices = http.get(stack.url("/_stripe/v1/prices?lookup_keys[]=credits_starter_500"), headers=SK).json()["data"]
    form = {"mode": "payment", "line_items[0][price]": prices[0]["id"], "line_items[0][quantity]": "1",
            "success_url": "http://x/ok", "metadata[user_id]": user, "metadata[bundle]": "standard",
            "payment_intent_data[metadata][user_id]": user, "payment_intent_data[metadata][bundle]": "standard"}
    created = http.post(stack.url("/_stripe/v1/checkout/sessions"), data=form, headers=SK).json()
    pi = pay(stack, http, created["id"])["payment_intent"]  # a mismatch: nothing credited, alarmed once
    out = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={}).json()
    statuses = [d["status"] for d in out["deliveries"]]
    assert statuses and all(s == 200 for s in statuses), statuses
    assert balance(stack, http, user)["balance"] == 0


def test_sessions_of_other_integrations_are_ignored_without_alarm(stack, http):
    foreign = {"id": "cs_test_foreign", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
               "amount_total": 500, "currency": "usd", "client_reference_id": None, "metadata": {"order": "42"}}
    r = post_event(stack, http, event_for(foreign, "checkout.session.completed"))
    assert r.status_code == 200 and r.json()["outcome"].startswith("ignored")


def test_a_pending_refund_claws_back_only_once_it_succeeds(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    refund = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995, "pending": True})
    assert refund.json()["status"] == "pending"
    assert balance(stack, http, user)["balance"] == 2000
    http.post(stack.url(f"/_stripe/refunds/{refund.json()['refund_id']}/succeed"), json={})
    assert balance(stack, http, user)["balance"] == 1000
    for event_id in refund.json()["event_ids"]:
        http.post(stack.url(f"/_stripe/events/{event_id}/resend"))
    assert balance(stack, http, user)["balance"] == 1000


def test_reconciliation_replays_missed_refund_and_dispute_events_once(stack, http, user):
    sid = buy(stack, http, user)["session_id"]
    pi = pay(stack, http, sid)["payment_intent"]
    http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995, "deliver": False})
    assert balance(stack, http, user)["balance"] == 2000  # every refund event was lost
    first = http.post(stack.url("/_local/invoke/ReconcileFunction")).json()
    assert first["objects_replayed"] >= 1 and first["checkpoint"] > 0
    assert balance(stack, http, user)["balance"] == 1000
    again = http.post(stack.url("/_local/invoke/ReconcileFunction")).json()
    assert again["checkpoint"] >= first["checkpoint"]
    assert balance(stack, http, user)["balance"] == 1000
    refunds = http.get(stack.url("/credits/history?type=refund"), headers=stack.headers(user)).json()["items"]
    assert [e["amount"] for e in refunds] == [-1000]


def test_a_purchase_key_answers_the_same_session_and_another_body_is_409(stack, http, user):
    first = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"},
                      headers=stack.headers(user, **{"Idempotency-Key": "buy-twice"}))
    again = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"},
                      headers=stack.headers(user, **{"Idempotency-Key": "buy-twice"}))
    assert first.status_code == again.status_code == 200
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert again.json()["session_id"] == first.json()["session_id"] and again.json()["url"] == first.json()["url"]
    other = http.post(stack.url("/credits/purchase"), json={"bundle": "pro"},
                      headers=stack.headers(user, **{"Idempotency-Key": "buy-twice"}))
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    theirs = http.post(stack.url("/credits/purchase"), json={"bundle": "pro"},
                       headers=stack.headers(user + "-other", **{"Idempotency-Key": "buy-twice"}))
    assert theirs.status_code == 200 and theirs.json()["session_id"] != first.json()["session_id"]
