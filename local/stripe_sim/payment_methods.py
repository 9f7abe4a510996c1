"""PaymentMethods: cards saved from Checkout or Stripe's test tokens; retrieve, list, attach and detach."""

from __future__ import annotations

import copy
import re

from local.stripe_sim.cards import EXP_MONTH, EXP_YEAR, TOKENS, TestCard, card_for
from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, invalid, unsupported
from local.stripe_sim.forms import enum_param, required, str_param
from local.stripe_sim.state import new_id


def billing_details(email: str | None = None, name: str | None = None) -> JsonDict:
    address = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}
    return {"address": address, "email": email, "name": name, "phone": None, "tax_id": None}


def new_card_method(
    ctx: Context, card: TestCard, *, customer: str | None, email: str | None, allow_redisplay: str = "unspecified"
) -> JsonDict:
    method = {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": allow_redisplay,
        "billing_details": billing_details(email),
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": EXP_MONTH,
            "exp_year": EXP_YEAR,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now(),
        "customer": customer,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    return ctx.store.put("payment_methods", method)


def new_bank_method(ctx: Context, *, customer: str | None, email: str | None) -> JsonDict:
    method = {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(email, "Jenny Rosen"),
        "created": ctx.now(),
        "customer": customer,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": "individual",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "financial_connections_account": None,
            "fingerprint": "sim6789bankacct0",
            "last4": "6789",
            "networks": {"preferred": "ach", "supported": ["ach"]},
            "routing_number": "110000000",
            "status_details": {},
        },
    }
    return ctx.store.put("payment_methods", method)


def attach(ctx: Context, method: JsonDict, customer_id: str, req: Request | None, *, deliver: bool) -> list[str]:
    method["customer"] = customer_id
    return [ctx.bus.emit("payment_method.attached", method, req, deliver=deliver)]


def detach(ctx: Context, method: JsonDict, req: Request | None, *, deliver: bool) -> list[str]:
    customer_id = method["customer"]
    method["customer"] = None
    # A detached method can never be used again (Stripe refuses it in later payments).
    ctx.store["method_state"].setdefault(method["id"], {})["unusable"] = "detached"
    events: list[str] = []
    customer = ctx.store["customers"].get(customer_id) if customer_id else None
    if customer is not None and customer["invoice_settings"]["default_payment_method"] == method["id"]:
        previous = {"invoice_settings": {"default_payment_method": method["id"]}}
        customer["invoice_settings"]["default_payment_method"] = None
        events.append(ctx.bus.emit("customer.updated", customer, req, deliver=deliver, previous=previous))
    # Stripe's detached event carries the customer it was detached from in previous_attributes.
    events.insert(0, ctx.bus.emit("payment_method.detached", method, req, deliver=deliver,
                                  previous={"customer": customer_id}))
    return events


def methods_of(ctx: Context, customer_id: str, type_: str | None) -> list[JsonDict]:
    return [
        pm
        for pm in ctx.store.newest_first("payment_methods")
        if pm["customer"] == customer_id and (type_ is None or pm["type"] == type_)
    ]


_TYPES = ("card", "us_bank_account")


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("payment_methods", m.group(1), "payment_method")))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    if "allow_redisplay" in p:
        raise unsupported("the `allow_redisplay` filter", "allow_redisplay")
    type_ = enum_param(p, "type", _TYPES)
    customer = str_param(p, "customer")
    if customer is None:
        # Stripe lists only a customer's methods here; without one the list is empty (no Treasury).
        items: list[JsonDict] = []
    else:
        ctx.store.get("customers", customer, "customer")
        items = methods_of(ctx, customer, type_)
    return Result(200, ctx.store.page("payment_methods", items, p, "/v1/payment_methods"))


def _customer_list(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    p = req.params
    if "allow_redisplay" in p:
        raise unsupported("the `allow_redisplay` filter", "allow_redisplay")
    customer = ctx.store.get("customers", m.group(1), "customer")
    items = methods_of(ctx, customer["id"], enum_param(p, "type", _TYPES))
    return Result(200, ctx.store.page("payment_methods", items, p, f"/v1/customers/{customer['id']}/payment_methods"))


def _attach(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    customer_id = required(str_param(req.params, "customer"), "customer")
    customer = ctx.store.get("customers", customer_id, "customer")
    token = m.group(1)
    if token in TOKENS:
        # In test mode, attaching a test token makes a fresh PaymentMethod for that card.
        method = new_card_method(ctx, card_for(TOKENS[token]), customer=None, email=customer["email"])
    else:
        method = ctx.store.get("payment_methods", token, "payment_method")
    if method["customer"] == customer["id"]:
        return Result(200, copy.deepcopy(method))
    if method["customer"] is not None:
        raise invalid(
            "The payment method you provided has already been attached to a customer.", "payment_method", code=None
        )
    events = attach(ctx, method, customer["id"], req, deliver=True)
    return Result(200, copy.deepcopy(method), deliver=events)


def _detach(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    method = ctx.store.get("payment_methods", m.group(1), "payment_method")
    if method["customer"] is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            "payment_method",
            code=None,
        )
    events = detach(ctx, method, req, deliver=True)
    return Result(200, copy.deepcopy(method), deliver=events)


ROUTES: list[Route] = [
    api("GET", "/v1/payment_methods", _list, {"customer", "type", "allow_redisplay", "limit", "starting_after",
                                             "ending_before"}),
    api("GET", "/v1/payment_methods/{payment_method}", _retrieve),
    api("POST", "/v1/payment_methods/{payment_method}/attach", _attach, {"customer"}),
    api("POST", "/v1/payment_methods/{payment_method}/detach", _detach),
    api("GET", "/v1/customers/{customer}/payment_methods", _customer_list,
        {"type", "allow_redisplay", "limit", "starting_after", "ending_before"}),
]
