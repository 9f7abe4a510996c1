"""Refunds and their lifecycle: pending, requires_action, succeeded, failed and canceled.

A refund that succeeds at once sends ``refund.created``, then ``refund.updated`` / ``charge.refund.updated``
(the card network's reference becomes available) and ``charge.refunded``. A pending one sends only
``refund.created`` until it succeeds or fails. A failure sends ``refund.failed``, ``refund.updated`` and
``charge.refund.updated`` and gives the money back to the balance. Only ``requires_action`` refunds can be
canceled (``POST /v1/refunds/{id}/cancel``), as the API reference says.
"""

from __future__ import annotations

import copy
import re

from local.stripe_sim.charges import DAY, balance_transaction
from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, StripeApiError, invalid, unsupported
from local.stripe_sim.forms import enum_param, int_param, metadata, str_param
from local.stripe_sim.state import format_amount, new_id

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "charge_for_pending_refund_disputed",
                   "insufficient_funds", "declined", "merchant_request", "unknown")
OPEN = ("pending", "requires_action")
# Statuses whose amount is (or may still be) on its way back to the customer.
RESERVED = ("pending", "requires_action", "succeeded")


def _destination(charge: JsonDict, *, available: bool) -> JsonDict:
    if charge["payment_method_details"]["type"] == "us_bank_account":
        bank = {"reference": "sim-ach-trace-0001" if available else None,
                "reference_status": "available" if available else "pending"}
        return {"type": "us_bank_transfer", "us_bank_transfer": bank}
    card: JsonDict = {"reference_status": "available" if available else "pending",
                      "reference_type": "acquirer_reference_number", "type": "refund" if available else "pending"}
    if available:
        card["reference"] = "74863005268017394838493"
    return {"type": "card", "card": card}


def _charge_refunded(ctx: Context, charge: JsonDict, delta: int, req: Request | None, deliver: bool) -> str | None:
    """Move ``charge.amount_refunded`` by ``delta``; a positive move is announced as ``charge.refunded``."""
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += delta
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    if delta <= 0:
        return None
    return ctx.bus.emit("charge.refunded", charge, req, deliver=deliver, previous=previous)


def _updated(ctx: Context, refund: JsonDict, previous: JsonDict, req: Request | None, deliver: bool) -> list[str]:
    return [
        ctx.bus.emit("refund.updated", refund, req, deliver=deliver, previous=previous),
        ctx.bus.emit("charge.refund.updated", refund, req, deliver=deliver, previous=previous),
    ]


def create_refund(
    ctx: Context, charge: JsonDict, amount: int | None, req: Request | None, *, reason: str | None,
    meta: dict[str, str], status: str, deliver: bool, email: str | None = None,
) -> tuple[JsonDict, list[str]]:
    if charge["status"] != "succeeded":
        raise StripeApiError(400, f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                             code="charge_not_refundable", param="charge")
    disputes = [d for d in ctx.store["disputes"].values() if d["charge"] == charge["id"]]
    if any(not d["is_charge_refundable"] for d in disputes):
        raise StripeApiError(400, f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                             code="charge_disputed", param="charge")
    reserved = sum(r["amount"] for r in ctx.store["refunds"].values()
                   if r["charge"] == charge["id"] and r["status"] in RESERVED)
    remaining = charge["amount"] - reserved
    if remaining <= 0:
        raise StripeApiError(400, f"Charge {charge['id']} has already been refunded.",
                             code="charge_already_refunded", param="charge")
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise StripeApiError(
            400,
            f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than unrefunded amount on "
            f"charge ({format_amount(remaining, charge['currency'])})",
            code="amount_too_large", param="amount",
        )
    refund_id = new_id("pyr_" if charge["id"].startswith("py_") else "re_")
    txn = None
    if status != "requires_action":
        txn = balance_transaction(ctx, amount=-amount, currency=charge["currency"], type_="refund",
                                  category="refund", source=refund_id, description="REFUND FOR CHARGE")["id"]
    refund: JsonDict = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn,
        "charge": charge["id"],
        "created": ctx.now(),
        "currency": charge["currency"],
        "destination_details": _destination(charge, available=False),
        "metadata": meta,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }
    if status == "pending":
        refund["pending_reason"] = "processing"
    if status == "requires_action":
        now = ctx.now()
        to = email or charge["billing_details"]["email"] or "customer@example.com"
        refund["next_action"] = {
            "type": "display_details",
            "display_details": {
                "email_sent": {"email_sent_at": now, "email_sent_to": to}, "expires_at": now + 45 * DAY
            },
        }
    ctx.store.put("refunds", refund)
    events = [ctx.bus.emit("refund.created", refund, req, deliver=deliver)]
    if status == "succeeded":
        events += _settle(ctx, refund, charge, req, deliver)
    return refund, events


def _settle(ctx: Context, refund: JsonDict, charge: JsonDict, req: Request | None, deliver: bool) -> list[str]:
    """The refund went through: the network reference appears and the charge shows it refunded."""
    previous = {"destination_details": copy.deepcopy(refund["destination_details"])}
    if refund["status"] != "succeeded":
        previous["status"] = refund["status"]
        for key in ("pending_reason", "next_action"):
            if key in refund:
                previous[key] = refund.pop(key)
    refund["status"] = "succeeded"
    refund["destination_details"] = _destination(charge, available=True)
    if refund["balance_transaction"] is None:
        refund["balance_transaction"] = balance_transaction(
            ctx, amount=-refund["amount"], currency=refund["currency"], type_="refund", category="refund",
            source=refund["id"], description="REFUND FOR CHARGE")["id"]
    events = _updated(ctx, refund, previous, req, deliver)
    refunded = _charge_refunded(ctx, charge, refund["amount"], req, deliver)
    return events + ([refunded] if refunded else [])


def succeed(ctx: Context, refund: JsonDict, *, deliver: bool) -> list[str]:
    if refund["status"] not in OPEN:
        raise invalid(f"Refund {refund['id']} is {refund['status']}; only a pending refund can succeed.", code=None)
    return _settle(ctx, refund, ctx.store.get("charges", refund["charge"], "charge"), None, deliver)


def fail(ctx: Context, refund: JsonDict, failure_reason: str, *, deliver: bool) -> list[str]:
    if refund["status"] not in (*OPEN, "succeeded"):
        raise invalid(f"Refund {refund['id']} is {refund['status']} and cannot fail.", code=None)
    charge = ctx.store.get("charges", refund["charge"], "charge")
    # Fields a refund only has once failed (failure_reason, ...) were absent before, so they are not "previous".
    previous: JsonDict = {"status": refund["status"]}
    was_succeeded = refund["status"] == "succeeded"
    for key in ("pending_reason", "next_action"):
        if key in refund:
            previous[key] = refund.pop(key)
    refund.update({"status": "failed", "failure_reason": failure_reason})
    if refund["balance_transaction"] is not None:
        # The money comes back to the balance.
        refund["failure_balance_transaction"] = balance_transaction(
            ctx, amount=refund["amount"], currency=refund["currency"], type_="refund_failure",
            category="refund_failure", source=refund["id"], description="REFUND FAILURE")["id"]
    events = [ctx.bus.emit("refund.failed", refund, None, deliver=deliver)]
    events += _updated(ctx, refund, previous, None, deliver)
    if was_succeeded:
        _charge_refunded(ctx, charge, -refund["amount"], None, deliver)
    return events


# --- API


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    for name in ("currency", "customer", "origin", "refund_application_fee", "reverse_transfer"):
        if name in p:
            raise unsupported(f"`{name}` on refunds", name)
    charge_id = str_param(p, "charge")
    pi_id = str_param(p, "payment_intent")
    if charge_id is None and pi_id is None:
        raise StripeApiError(
            400, "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing", param="charge",
        )
    if charge_id is not None:
        charge = ctx.store.get("charges", charge_id, "charge")
        if pi_id is not None and charge["payment_intent"] != pi_id:
            raise invalid("The charge does not belong to that payment_intent.", "payment_intent")
    else:
        charge = charge_of(ctx, ctx.store.get("payment_intents", str(pi_id), "payment_intent"))
    reason = enum_param(p, "reason", REASONS)
    amount = int_param(p, "amount", minimum=1)
    refund, events = create_refund(ctx, charge, amount, req, reason=reason, meta=metadata(p.get("metadata")),
                                   status="succeeded", deliver=True,
                                   email=str_param(p, "instructions_email"))
    return Result(200, copy.deepcopy(refund), deliver=events)


def charge_of(ctx: Context, intent: JsonDict) -> JsonDict:
    if intent["latest_charge"] is None:
        raise invalid(f"PaymentIntent {intent['id']} has no charge to refund.", "payment_intent")
    return ctx.store.get("charges", intent["latest_charge"], "charge")


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("refunds", m.group(1), "refund")))


def _cancel(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    refund = ctx.store.get("refunds", m.group(1), "refund")
    if refund["status"] != "requires_action":
        raise invalid(f"You can't cancel a refund with a status of `{refund['status']}`; only refunds with a "
                      "status of `requires_action` can be canceled.", "refund", code=None)
    previous = {"status": refund["status"], "next_action": refund.pop("next_action", None)}
    refund["status"] = "canceled"
    return Result(200, copy.deepcopy(refund), deliver=_updated(ctx, refund, previous, req, True))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    return Result(200, ctx.store.list_page("refunds", req.params, "/v1/refunds", "payment_intent", "charge"))


ROUTES: list[Route] = [
    api("POST", "/v1/refunds", _create, {"payment_intent", "charge", "amount", "reason", "metadata",
                                        "instructions_email", "currency", "customer", "origin",
                                        "refund_application_fee", "reverse_transfer"}),
    api("GET", "/v1/refunds", _list, {"payment_intent", "charge", "created", "limit", "starting_after",
                                     "ending_before"}),
    api("GET", "/v1/refunds/{refund}", _retrieve),
    api("POST", "/v1/refunds/{refund}/cancel", _cancel),
]
