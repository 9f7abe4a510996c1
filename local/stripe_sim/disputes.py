"""Disputes: inquiries and chargebacks, their funds withdrawn and reinstated, and their closing.

A chargeback (``needs_response``) withdraws the disputed amount plus Stripe's dispute fee at once
(``charge.dispute.funds_withdrawn``, a balance transaction of ``-amount``); an inquiry
(``warning_needs_response``) moves no money. Winning goes through ``under_review`` (``charge.dispute.updated``:
evidence was submitted) to ``won`` and reinstates the funds (``charge.dispute.funds_reinstated``); losing closes
it as ``lost``; an inquiry closes as ``warning_closed``. ``balance_transactions`` always shows every movement,
so "funds withdrawn by disputes not won or reinstated" can be computed from the dispute alone.
"""

from __future__ import annotations

import copy
import re

from local.stripe_sim.charges import DAY, DISPUTE_FEE, balance_transaction
from local.stripe_sim.core import Context, Request, Result, Route, api, sim, sim_amount, sim_flag
from local.stripe_sim.errors import JsonDict, invalid
from local.stripe_sim.refunds import RESERVED, charge_of
from local.stripe_sim.state import new_id

REASONS = ("bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
           "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
           "insufficient_funds", "noncompliant", "product_not_received", "product_unacceptable",
           "subscription_canceled", "unrecognized")
_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
    "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier",
    "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file",
    "uncategorized_text",
)


def _new_dispute(ctx: Context, charge: JsonDict, amount: int, reason: str, *, inquiry: bool) -> JsonDict:
    now = ctx.now()
    evidence: JsonDict = dict.fromkeys(_EVIDENCE_FIELDS)
    evidence["enhanced_evidence"] = {}
    details = charge["payment_method_details"]
    dispute: JsonDict = {
        "id": new_id("du_" if inquiry else "dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {"due_by": now + 7 * DAY, "enhanced_eligibility": {}, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": inquiry,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "status": "warning_needs_response" if inquiry else "needs_response",
    }
    if details["type"] == "card":
        dispute["payment_method_details"] = {
            "type": "card",
            "card": {"brand": details["card"]["brand"], "case_type": "inquiry" if inquiry else "chargeback",
                     "network_reason_code": "10.4" if reason == "fraudulent" else "13.1"},
        }
    return ctx.store.put("disputes", dispute)


def _movement(ctx: Context, dispute: JsonDict, sign: int) -> JsonDict:
    withdrawn = sign < 0
    txn = balance_transaction(
        ctx, amount=sign * dispute["amount"], currency=dispute["currency"], type_="adjustment",
        category="dispute" if withdrawn else "dispute_reversal", source=dispute["id"], fee=-sign * DISPUTE_FEE,
        description=f"Chargeback {'withdrawal' if withdrawn else 'reversal'} for {dispute['charge']}",
    )
    dispute["balance_transactions"].append(copy.deepcopy(txn))
    return txn


def _sim_create(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    inquiry = sim_flag(req.params, "inquiry", False)
    reason = req.params.get("reason", "fraudulent")
    if reason not in REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", "reason")
    charge = charge_of(ctx, ctx.store.get("payment_intents", m.group(1), "payment_intent"))
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded and cannot be disputed.")
    if charge["disputed"]:
        raise invalid(f"Charge {charge['id']} is already disputed.")
    refunded = sum(r["amount"] for r in ctx.store["refunds"].values()
                   if r["charge"] == charge["id"] and r["status"] in RESERVED)
    disputable = charge["amount"] - refunded
    amount = sim_amount(req.params) or disputable
    if amount > disputable:
        raise invalid(f"Dispute amount exceeds the unrefunded amount ({disputable}).", "amount")
    dispute = _new_dispute(ctx, charge, amount, str(reason), inquiry=inquiry)
    charge["disputed"] = True
    if not inquiry:
        _movement(ctx, dispute, -1)
    events = [ctx.bus.emit("charge.dispute.created", dispute, None, deliver=deliver)]
    if not inquiry:
        events.append(ctx.bus.emit("charge.dispute.funds_withdrawn", dispute, None, deliver=deliver))
    body = {"dispute_id": dispute["id"], "event_id": events[0], "event_ids": events, "status": dispute["status"]}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _sim_close(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    dispute = ctx.store.get("disputes", m.group(1), "dispute")
    inquiry = dispute["status"].startswith("warning_")
    outcome = req.params.get("outcome")
    if outcome not in ("won", "lost") and not (inquiry and outcome is None):
        raise invalid("`outcome` must be \"won\" or \"lost\".", "outcome")
    if dispute["status"] not in ("needs_response", "under_review", "warning_needs_response", "warning_under_review"):
        raise invalid(f"Dispute {dispute['id']} is already closed ({dispute['status']}).")
    events: list[str] = []
    if outcome == "won" and not dispute["status"].endswith("under_review"):
        # Winning means the merchant submitted evidence first.
        previous = {"status": dispute["status"], "evidence_details": copy.deepcopy(dispute["evidence_details"])}
        dispute["status"] = "warning_under_review" if inquiry else "under_review"
        dispute["evidence_details"].update({"has_evidence": True, "submission_count": 1})
        dispute["evidence"]["uncategorized_text"] = "Evidence submitted through the Stripe simulator."
        events.append(ctx.bus.emit("charge.dispute.updated", dispute, None, deliver=deliver, previous=previous))
    previous = {"status": dispute["status"]}
    dispute["status"] = "warning_closed" if inquiry else str(outcome)
    dispute["is_charge_refundable"] = False
    events.append(ctx.bus.emit("charge.dispute.closed", dispute, None, deliver=deliver, previous=previous))
    if outcome == "won" and not inquiry:
        _movement(ctx, dispute, +1)
        events.append(ctx.bus.emit("charge.dispute.funds_reinstated", dispute, None, deliver=deliver))
    body = {"dispute_id": dispute["id"], "status": dispute["status"], "event_ids": events}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("disputes", m.group(1), "dispute")))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    return Result(200, ctx.store.list_page("disputes", req.params, "/v1/disputes", "charge", "payment_intent"))


ROUTES: list[Route] = [
    api("GET", "/v1/disputes", _list, {"charge", "payment_intent", "created", "limit", "starting_after",
                                      "ending_before"}),
    api("GET", "/v1/disputes/{dispute}", _retrieve),
    sim("POST", "/payment_intents/{intent}/dispute", _sim_create, {"amount", "deliver", "reason", "inquiry"}),
    sim("POST", "/disputes/{dispute}/close", _sim_close, {"outcome", "deliver"}),
]
