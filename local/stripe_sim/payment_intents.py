"""PaymentIntents: what Checkout pays with, and off-session charges of a saved card (``/v1/payment_intents``).

``pay()`` runs a payment as Stripe test mode would for the card behind the PaymentMethod (see ``cards``):
a success makes a succeeded charge; an off-session payment with the authentication card fails with
``authentication_required`` (no charge); the insufficient-funds card makes a failed charge. Failures answer
402 ``card_error`` carrying the PaymentIntent, as Stripe does, and send ``payment_intent.payment_failed``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from local.stripe_sim.cards import AUTHENTICATION_REQUIRED, INSUFFICIENT_FUNDS, TOKENS, card_for, card_of_last4
from local.stripe_sim.charges import new_charge
from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.customers import live_customer
from local.stripe_sim.errors import JsonDict, StripeApiError, card_error, invalid, unsupported
from local.stripe_sim.forms import (
    bool_param,
    check_keys,
    dict_param,
    enum_param,
    int_param,
    list_param,
    metadata,
    required,
    str_param,
)
from local.stripe_sim.payment_methods import new_card_method
from local.stripe_sim.state import ZERO_DECIMAL_CURRENCIES, format_amount, new_id

_AUTH_MESSAGE = "Your card was declined. This transaction requires authentication."
_FUNDS_MESSAGE = "Your card has insufficient funds."


def new_intent(
    ctx: Context, *, amount: int, currency: str, customer: str | None, meta: dict[str, str],
    description: str | None = None, receipt_email: str | None = None, method_types: list[str] | None = None,
    setup_future_usage: str | None = None, statement_descriptor_suffix: str | None = None,
) -> JsonDict:
    intent_id = new_id("pi_")
    types = method_types or ["card"]
    options: JsonDict = {}
    if "card" in types:
        options["card"] = {"installments": None, "mandate_options": None, "network": None,
                           "request_three_d_secure": "automatic"}
    if "us_bank_account" in types:
        options["us_bank_account"] = {"verification_method": "automatic"}
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None if method_types else {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": ctx.now(),
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": meta,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": options,
        "payment_method_types": types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    return ctx.store.put("payment_intents", intent)


def _failure(ctx: Context, intent: JsonDict, method: JsonDict, error: StripeApiError, charge: JsonDict | None,
             req: Request | None, deliver: bool) -> tuple[list[str], StripeApiError]:
    last_error: JsonDict = {k: v for k, v in error.body()["error"].items() if k != "param"}
    last_error["payment_method"] = copy.deepcopy(method)
    if charge is not None:
        last_error["charge"] = charge["id"]
    intent.update({"status": "requires_payment_method", "payment_method": None, "last_payment_error": last_error})
    events = [ctx.bus.emit("charge.failed", charge, req, deliver=deliver)] if charge is not None else []
    events.append(ctx.bus.emit("payment_intent.payment_failed", intent, req, deliver=deliver))
    extra: JsonDict = {"payment_intent": copy.deepcopy(intent), "payment_method": copy.deepcopy(method)}
    if charge is not None:
        extra["charge"] = charge["id"]
    error.extra.update(extra)
    return events, error


def pay(
    ctx: Context, intent: JsonDict, method: JsonDict, req: Request | None, *, off_session: bool, deliver: bool,
    email: str | None = None,
) -> tuple[list[str], StripeApiError | None]:
    """Confirm ``intent`` with ``method``; returns the events to deliver and the card error, if it failed."""
    intent["payment_method"] = method["id"]
    if method["type"] == "us_bank_account":
        charge = new_charge(ctx, intent, method, status="pending", email=email)
        intent.update({"status": "processing", "latest_charge": charge["id"]})
        return [
            ctx.bus.emit("charge.pending", charge, req, deliver=deliver),
            ctx.bus.emit("payment_intent.processing", intent, req, deliver=deliver),
        ], None
    card = card_of_last4(method["card"]["last4"])
    if off_session and card.behaviour == AUTHENTICATION_REQUIRED:
        error = card_error("authentication_required", _AUTH_MESSAGE, decline_code="authentication_required")
        return _failure(ctx, intent, method, error, None, req, deliver)
    if card.behaviour == INSUFFICIENT_FUNDS:
        charge = new_charge(ctx, intent, method, status="failed", declined="insufficient_funds", email=email)
        intent["latest_charge"] = charge["id"]
        error = card_error("card_declined", _FUNDS_MESSAGE, decline_code="insufficient_funds",
                           advice_code="try_again_later")
        return _failure(ctx, intent, method, error, charge, req, deliver)
    authenticated = not off_session and card.behaviour == AUTHENTICATION_REQUIRED
    charge = new_charge(ctx, intent, method, status="succeeded", email=email, authenticated=authenticated)
    intent.update({"status": "succeeded", "amount_received": intent["amount"], "latest_charge": charge["id"],
                   "last_payment_error": None})
    if method["customer"] is None:
        # Used once without a customer: Stripe never lets it be used again.
        ctx.store["method_state"].setdefault(method["id"], {})["unusable"] = "consumed"
    return [
        ctx.bus.emit("charge.succeeded", charge, req, deliver=deliver),
        ctx.bus.emit("payment_intent.succeeded", intent, req, deliver=deliver),
    ], None


def usable_method(ctx: Context, pm_id: str, customer: str | None) -> JsonDict:
    """The PaymentMethod a payment may use, or Stripe's error for one that is missing, foreign or spent."""
    if pm_id in TOKENS:
        return new_card_method(ctx, card_for(TOKENS[pm_id]), customer=None, email=None)
    method = ctx.store.get("payment_methods", pm_id, "payment_method")
    if method["customer"] is not None and method["customer"] != customer:
        if customer is None:
            raise invalid(
                f"The PaymentMethod provided ({pm_id}) belongs to a Customer ({method['customer']}); include that "
                "Customer in the `customer` parameter on the PaymentIntent.", "payment_method", code=None,
            )
        raise invalid(f"The provided PaymentMethod ({pm_id}) is attached to another Customer.", "payment_method",
                      code=None)
    if method["customer"] is None and ctx.store["method_state"].get(pm_id, {}).get("unusable"):
        raise invalid(
            "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
            "shared with a connected account without Customer attachment, or was detached from a Customer. It may "
            "not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
            "payment_method",
            code=None,
        )
    return method


def _minimum(amount: int, currency: str) -> None:
    if currency not in ZERO_DECIMAL_CURRENCIES and amount < 50:
        raise StripeApiError(
            400, f"Amount must be at least {format_amount(50, currency)} {currency}", code="amount_too_small",
            param="amount",
        )


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    for name in ("application_fee_amount", "on_behalf_of", "transfer_data", "shipping", "payment_method_data",
                 "mandate_data", "confirmation_token", "payment_method_options"):
        if name in p:
            raise unsupported(f"`{name}`", name)
    enum_param(p, "capture_method", ("automatic", "automatic_async", "manual"))
    if p.get("capture_method") == "manual":
        raise unsupported("manual capture", "capture_method")
    amount = required(int_param(p, "amount", minimum=1, maximum=99_999_999), "amount")
    currency = required(str_param(p, "currency"), "currency").lower()
    _minimum(amount, currency)
    confirm = bool(bool_param(p, "confirm"))
    off_session = _off_session(p)
    if off_session and not confirm:
        raise invalid("You can only pass `off_session` when `confirm` is true.", "off_session")
    customer_id = str_param(p, "customer")
    if customer_id is not None:
        live_customer(ctx, customer_id, "customer")
    pm_id = str_param(p, "payment_method")
    automatic = dict_param(p, "automatic_payment_methods")
    check_keys(automatic, {"enabled", "allow_redirects"}, "automatic_payment_methods")
    types = [str(t) for t in list_param(p, "payment_method_types")]
    for index, type_ in enumerate(types):
        if type_ not in ("card", "us_bank_account"):
            raise unsupported(f"payment method type {type_!r}", f"payment_method_types[{index}]")
    future = enum_param(p, "setup_future_usage", ("off_session", "on_session"))
    meta = metadata(p.get("metadata"))
    description = str_param(p, "description", max_len=1000)
    receipt_email = str_param(p, "receipt_email")
    suffix = str_param(p, "statement_descriptor_suffix", max_len=22)
    bool_param(p, "error_on_requires_action")
    method = usable_method(ctx, pm_id, customer_id) if pm_id is not None else None
    if confirm and method is None:
        raise StripeApiError(
            400, "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the "
            "PaymentIntent, pass a `payment_method`.", code="payment_intent_unexpected_state",
        )
    intent = new_intent(ctx, amount=amount, currency=currency, customer=customer_id, meta=meta,
                        description=description, receipt_email=receipt_email, method_types=types or None,
                        setup_future_usage=future, statement_descriptor_suffix=suffix)
    events = [ctx.bus.emit("payment_intent.created", intent, req, deliver=True)]
    if method is not None and not confirm:
        intent.update({"payment_method": method["id"], "status": "requires_confirmation"})
    if method is None or not confirm:
        return Result(200, copy.deepcopy(intent), deliver=events)
    paid, error = pay(ctx, intent, method, req, off_session=off_session, deliver=True)
    if future is not None and method["customer"] is None and customer_id is not None and error is None:
        method["customer"] = customer_id
        paid.append(ctx.bus.emit("payment_method.attached", method, req, deliver=True))
    if error is not None:
        return Result(error.status, error.body(), deliver=events + paid)
    return Result(200, copy.deepcopy(intent), deliver=events + paid)


def _off_session(p: Mapping[str, Any]) -> bool:
    # Stripe takes off_session=true|false, or one_off / recurring.
    raw = p.get("off_session")
    if raw in ("one_off", "recurring"):
        return True
    return bool(bool_param(p, "off_session"))


def _retrieve(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    intent = ctx.store.get("payment_intents", m.group(1), "intent")
    secret = str_param(req.params, "client_secret")
    if secret is not None and secret != intent["client_secret"]:
        raise invalid("The client_secret provided does not match the client_secret associated with the "
                      "PaymentIntent.", "client_secret", code=None)
    return Result(200, copy.deepcopy(intent))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    return Result(200, ctx.store.list_page("payment_intents", req.params, "/v1/payment_intents", "customer"))


ROUTES: list[Route] = [
    api(
        "POST",
        "/v1/payment_intents",
        _create,
        {"amount", "currency", "customer", "payment_method", "confirm", "off_session", "metadata", "description",
         "receipt_email", "payment_method_types", "setup_future_usage", "statement_descriptor_suffix",
         "error_on_requires_action", "capture_method", "automatic_payment_methods", "application_fee_amount",
         "on_behalf_of", "transfer_data", "shipping", "payment_method_data", "mandate_data", "confirmation_token",
         "payment_method_options"},
    ),
    api("GET", "/v1/payment_intents", _list, {"customer", "created", "limit", "starting_after", "ending_before"}),
    api("GET", "/v1/payment_intents/{intent}", _retrieve, {"client_secret"}),
]
