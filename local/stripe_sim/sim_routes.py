"""Simulator-only routes for what a customer or the bank does: pay or leave a hosted Checkout page, settle an
asynchronous bank debit, expire a session, and refunds that are pending, succeed later or fail.

JSON bodies; every route takes ``"deliver": false`` to record its events without sending them (a lost webhook).
"""

from __future__ import annotations

import re

from local.stripe_sim.cards import DEFAULT, INSUFFICIENT_FUNDS, card_for
from local.stripe_sim.charges import balance_transaction, outcome
from local.stripe_sim.checkout import expire_session
from local.stripe_sim.core import Context, Request, Result, Route, sim, sim_amount, sim_flag
from local.stripe_sim.customers import new_customer
from local.stripe_sim.errors import JsonDict, card_error, invalid
from local.stripe_sim.payment_intents import new_intent, pay
from local.stripe_sim.payment_methods import attach, new_bank_method, new_card_method
from local.stripe_sim.refunds import FAILURE_REASONS, REASONS, charge_of, create_refund, fail, succeed


def _open_session(ctx: Context, session_id: str) -> JsonDict:
    session = ctx.store.get("checkout_sessions", session_id, "session")
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is {session['status']} and can no longer be paid.")
    return session


def _success_redirect(session: JsonDict) -> str | None:
    url = session["success_url"]
    # Stripe substitutes this literal template variable, unencoded, in the success URL.
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _pay(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    is_async = sim_flag(req.params, "async", False)
    deliver = sim_flag(req.params, "deliver", True)
    number = req.params.get("card")
    if number is not None and (not isinstance(number, str) or is_async):
        raise invalid("`card` is a test card number, and only for card payments (not with `async`).", "card")
    session = _open_session(ctx, m.group(1))
    card = None if is_async else card_for(number or DEFAULT)
    if card is not None and card.behaviour == INSUFFICIENT_FUNDS:
        # The page shows the decline; the session stays open and nothing is sent.
        raise card_error("card_declined", "Your card has insufficient funds.", decline_code="insufficient_funds",
                         advice_code="try_again_later")
    private = ctx.store["session_private"].setdefault(session["id"], {})
    pi_data = private.get("payment_intent_data", {})
    future = pi_data.get("setup_future_usage")
    saved = session["saved_payment_method_options"] or {}
    saving = card is not None and (future is not None or saved.get("payment_method_save") == "enabled")
    events: list[str] = []
    customer = ctx.store["customers"].get(session["customer"]) if session["customer"] else None
    if customer is None and (saving or session["customer_creation"] == "always"):
        customer = new_customer(ctx, email=session["customer_email"] or "customer@example.com")
        session["customer"] = customer["id"]
        events.append(ctx.bus.emit("customer.created", customer, None, deliver=deliver))
    email = session["customer_email"] or (customer or {}).get("email") or "customer@example.com"
    if card is None:
        method = new_bank_method(ctx, customer=None, email=email)
    else:
        save_offered = saved.get("payment_method_save") == "enabled"
        redisplay = "always" if save_offered else "limited" if saving else "unspecified"
        method = new_card_method(ctx, card, customer=None, email=email, allow_redisplay=redisplay)
    intent = new_intent(
        ctx, amount=session["amount_total"], currency=session["currency"], customer=session["customer"],
        meta=dict(pi_data.get("metadata", {})), description=pi_data.get("description"),
        receipt_email=pi_data.get("receipt_email"), method_types=[method["type"]], setup_future_usage=future,
        statement_descriptor_suffix=pi_data.get("statement_descriptor_suffix"),
    )
    events.append(ctx.bus.emit("payment_intent.created", intent, None, deliver=deliver))
    if saving and customer is not None:
        events += attach(ctx, method, customer["id"], None, deliver=deliver)
    paid, _error = pay(ctx, intent, method, None, off_session=False, deliver=deliver, email=email)
    details: JsonDict = {"address": None, "business_name": None, "email": email, "individual_name": None, "name": None,
               "phone": None, "tax_exempt": "none", "tax_ids": []}
    session.update({"status": "complete", "payment_status": "unpaid" if is_async else "paid",
                    "payment_intent": intent["id"], "customer_details": details, "url": None})
    private["async_pending"] = is_async
    completed = ctx.bus.emit("checkout.session.completed", session, None, deliver=deliver)
    events += [*paid, completed]
    body = {"event_id": completed, "redirect": _success_redirect(session), "payment_intent": intent["id"],
            "charge": intent["latest_charge"], "payment_method": method["id"], "customer": session["customer"]}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _cancel(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    session = ctx.store.get("checkout_sessions", m.group(1), "session")
    # Leaving the hosted page changes nothing on Stripe: the session stays open until it expires.
    return Result(200, {"redirect": session["cancel_url"], "status": session["status"]})


def _async_result(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    if not isinstance(req.params.get("succeeded"), bool):
        raise invalid("`succeeded` (boolean) is required.", "succeeded", code="parameter_missing")
    succeeded = bool(req.params["succeeded"])
    deliver = sim_flag(req.params, "deliver", True)
    session = ctx.store.get("checkout_sessions", m.group(1), "session")
    private = ctx.store["session_private"].setdefault(session["id"], {})
    if session["status"] != "complete" or not private.get("async_pending"):
        raise invalid("This Checkout Session has no asynchronous payment awaiting a result.")
    intent = ctx.store["payment_intents"][session["payment_intent"]]
    charge = ctx.store["charges"][intent["latest_charge"]]
    method = ctx.store["payment_methods"][charge["payment_method"]]
    private["async_pending"] = False
    if succeeded:
        intent.update({"status": "succeeded", "amount_received": intent["amount"]})
        charge.update({"status": "succeeded", "paid": True, "outcome": outcome()})
        session["payment_status"] = "paid"
        events = [ctx.bus.emit("charge.succeeded", charge, None, deliver=deliver),
                  ctx.bus.emit("payment_intent.succeeded", intent, None, deliver=deliver)]
        type_ = "checkout.session.async_payment_succeeded"
    else:
        reversal = balance_transaction(ctx, amount=-charge["amount"], currency=charge["currency"],
                                       type_="payment_failure_refund", category="charge_failure",
                                       source=charge["id"], description="Payment failure refund")
        charge.update({"status": "failed", "paid": False, "failure_code": "insufficient_funds",
                       "failure_message": "The customer's account has insufficient funds to cover this payment.",
                       "failure_balance_transaction": reversal["id"]})
        error: JsonDict = {"code": "payment_method_provider_decline", "decline_code": "insufficient_funds",
                           "message": "The customer's bank account has insufficient funds.",
                           "type": "invalid_request_error", "payment_method": dict(method), "charge": charge["id"]}
        intent.update({"status": "requires_payment_method", "payment_method": None, "last_payment_error": error})
        events = [ctx.bus.emit("charge.failed", charge, None, deliver=deliver),
                  ctx.bus.emit("payment_intent.payment_failed", intent, None, deliver=deliver)]
        type_ = "checkout.session.async_payment_failed"
    event_id = ctx.bus.emit(type_, session, None, deliver=deliver)
    events.append(event_id)
    body = {"event_id": event_id, "payment_status": session["payment_status"]}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _expire(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    session = ctx.store.get("checkout_sessions", m.group(1), "session")
    event_id = expire_session(ctx, session, None, deliver=deliver)
    body = {"event_id": event_id, "redirect": session["cancel_url"]}
    return Result(200, body, deliver=[event_id] if deliver else [], report_delivery=True)


def _refund(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    pending = sim_flag(req.params, "pending", False)
    requires_action = sim_flag(req.params, "requires_action", False)
    if pending and requires_action:
        raise invalid("Pass at most one of `pending` and `requires_action`.")
    reason = req.params.get("reason", "requested_by_customer")
    if reason not in REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", "reason")
    charge = charge_of(ctx, ctx.store.get("payment_intents", m.group(1), "payment_intent"))
    status = "pending" if pending else "requires_action" if requires_action else "succeeded"
    refund, events = create_refund(ctx, charge, sim_amount(req.params), None, reason=str(reason), meta={},
                                   status=status, deliver=deliver)
    body = {"refund_id": refund["id"], "amount": refund["amount"], "status": refund["status"], "event_ids": events}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _refund_succeed(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    refund = ctx.store.get("refunds", m.group(1), "refund")
    events = succeed(ctx, refund, deliver=deliver)
    body = {"refund_id": refund["id"], "status": refund["status"], "event_ids": events}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


def _refund_fail(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    deliver = sim_flag(req.params, "deliver", True)
    reason = req.params.get("failure_reason", "expired_or_canceled_card")
    if reason not in FAILURE_REASONS:
        raise invalid(f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}", "failure_reason")
    refund = ctx.store.get("refunds", m.group(1), "refund")
    events = fail(ctx, refund, str(reason), deliver=deliver)
    body = {"refund_id": refund["id"], "status": refund["status"], "failure_reason": reason, "event_ids": events}
    return Result(200, body, deliver=events if deliver else [], report_delivery=True)


ROUTES: list[Route] = [
    sim("POST", "/checkout/{session}/pay", _pay, {"async", "deliver", "card"}),
    sim("POST", "/checkout/{session}/cancel", _cancel),
    sim("POST", "/checkout/{session}/async_result", _async_result, {"succeeded", "deliver"}),
    sim("POST", "/checkout/{session}/expire", _expire, {"deliver"}),
    sim("POST", "/payment_intents/{intent}/refund", _refund, {"amount", "deliver", "reason", "pending",
                                                              "requires_action"}),
    sim("POST", "/refunds/{refund}/succeed", _refund_succeed, {"deliver"}),
    sim("POST", "/refunds/{refund}/fail", _refund_fail, {"failure_reason", "deliver"}),
]
