"""The clawback rule for refunds and disputes: state-based, so any order, duplicate or replay of events converges.

On every refund or dispute event of a purchase the service reads the payment's refunds and disputes from Stripe:

    taken_back = sum of succeeded refunds + funds withdrawn by disputes that are not won or reinstated
    clawed     = credits                                   if taken_back >= amount_paid (captured total, tax included)
               = floor(credits * taken_back / amount_paid)  otherwise
    target     = max(0, clawed - expired - voided of the purchase's own grant)   (those credits are gone already)

and moves the purchase's ``taken`` (``credits_clawed_back``) to ``target``: up with one ``refund`` entry, down with
one ``restore`` entry (of what repays debt or returns to the grant). A duplicate or replayed event finds
``taken == target`` and posts nothing. Inquiries withdraw no funds, so they move nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credits.observability import count
from credits.ports import PurchaseChanged, PurchaseClawback

if TYPE_CHECKING:
    from credits.grant_lot import LiveGrant
    from credits.models import Purchase
    from credits.ports import PaymentGateway
    from credits.purchases import PurchaseService

ATTEMPTS = 5


def _amount(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def dispute_withdrawn(dispute: dict[str, Any]) -> int:
    """Funds a dispute holds back right now: none for an inquiry (``warning_*``) or a won dispute; else the dispute's
    amount while its balance transactions net to a withdrawal (a reinstatement nets them back to zero)."""
    status = str(dispute.get("status") or "")
    if status == "won" or status.startswith("warning_"):
        return 0
    transactions = [t for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)]
    if transactions and sum(int(t.get("amount") or 0) for t in transactions) >= 0:
        return 0
    return _amount(dispute.get("amount"))


def taken_back(gateway: PaymentGateway, payment_intent: str) -> tuple[int, int]:
    """(money taken back, amount paid) for a payment, from Stripe's API."""
    refunds = gateway.list_refunds(payment_intent=payment_intent)
    disputes = gateway.list_disputes(payment_intent=payment_intent)
    intent = gateway.retrieve_payment_intent(payment_intent)
    refunded = sum(_amount(r.get("amount")) for r in refunds if r.get("status") == "succeeded")
    withdrawn = sum(dispute_withdrawn(d) for d in disputes)
    return refunded + withdrawn, _amount(intent.get("amount_received"))


def clawed_credits(credits: int, back: int, paid: int) -> int:
    if back <= 0:
        return 0
    if paid <= 0 or back >= paid:
        return credits
    return credits * back // paid


def recompute_clawback(service: PurchaseService, purchase: Purchase) -> str:
    if not purchase.payment_intent or not purchase.fulfilled_at:
        return "ignored: not fulfilled"
    back, paid = taken_back(service.gateway, purchase.payment_intent)
    clawed = clawed_credits(purchase.credits, back, paid)
    for _ in range(ATTEMPTS):
        current = purchase

        def decide(grant: LiveGrant | None, p: Purchase = current) -> tuple[PurchaseClawback, dict[str, Any]] | None:
            own = grant is not None and p.grant_id is not None and grant.id == p.grant_id
            target = max(0, clawed - (grant.expired + grant.voided if own and grant else 0))
            if target == p.credits_clawed_back and back == p.refunded_amount:
                return None
            write = PurchaseClawback(p.session_id, expect_taken=p.credits_clawed_back, taken=target,
                                     status="refunded" if target > 0 else "fulfilled", refunded_amount=back)
            return write, {"session_id": p.session_id, "payment_intent": p.payment_intent}

        try:
            moved = service.grants.apply_clawback(current.user_id, current.grant_id, decide,
                                                  f"Payment {current.payment_intent}")
        except PurchaseChanged:
            fresh = service.store.get_purchase(current.session_id)
            if fresh is None:
                return "ignored: purchase vanished"
            purchase = fresh
            continue
        if moved < 0:
            count("CreditsRefunded", -moved)
            return "refunded"
        if moved > 0:
            count("CreditsRestored", moved)
            return "restored"
        return "duplicate"
    from credits.errors import TransientStoreError

    raise TransientStoreError("The purchase kept changing while applying a refund; retry.")
