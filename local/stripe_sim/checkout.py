"""Checkout Sessions (``mode=payment``, ``ui_mode=hosted_page``): create, retrieve, list, expire, line items,
and Stripe's own expiry of open sessions at ``expires_at``. Paying happens in ``sim_routes`` (the customer).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from local.stripe_sim.core import PREFIX, Context, Request, Result, Route, api
from local.stripe_sim.customers import live_customer
from local.stripe_sim.errors import JsonDict, StripeApiError, invalid, unsupported
from local.stripe_sim.forms import (
    bool_param,
    check_keys,
    created_filter,
    dict_param,
    enum_param,
    int_param,
    list_param,
    metadata,
    required,
    str_param,
)
from local.stripe_sim.state import new_id

# Stripe's bounds for a Checkout Session's expires_at, relative to its creation.
MIN_SESSION_TTL = 30 * 60
MAX_SESSION_TTL = 24 * 3600
_PI_DATA = {"metadata", "description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
            "setup_future_usage", "capture_method"}
_PI_DATA_UNSUPPORTED = ("application_fee_amount", "on_behalf_of", "shipping", "transfer_data", "transfer_group")
_CUSTOM_TEXT = ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")
_METHOD_TYPES = ("card", "us_bank_account")


def _line_items(ctx: Context, raw_items: Any) -> tuple[list[JsonDict], str]:
    if not isinstance(raw_items, list) or not raw_items:
        raise StripeApiError(400, "Missing required param: line_items.", code="parameter_missing", param="line_items")
    items: list[JsonDict] = []
    currency: str | None = None
    for index, raw in enumerate(raw_items):
        name = f"line_items[{index}]"
        if not isinstance(raw, dict):
            raise invalid(f"Invalid {name}", name)
        for key in ("price_data", "adjustable_quantity", "dynamic_tax_rates", "tax_rates"):
            if key in raw:
                raise unsupported(f"`{name}[{key}]`", f"{name}[{key}]")
        check_keys(raw, {"price", "quantity"}, name)
        price_id = required(str_param(raw, "price", name=f"{name}[price]"), f"{name}[price]")
        price = ctx.store["prices"].get(price_id)
        if price is None:
            raise StripeApiError(400, f"No such price: '{price_id}'", code="resource_missing", param=f"{name}[price]")
        if not price["active"]:
            raise invalid(f"The price `{price_id}` is not active.", f"{name}[price]")
        quantity = required(int_param(raw, "quantity", name=f"{name}[quantity]", minimum=1, maximum=999_999),
                            f"{name}[quantity]")
        if currency is not None and price["currency"] != currency:
            raise invalid("All line items must use the same currency.", f"{name}[price]")
        currency = price["currency"]
        amount = price["unit_amount"] * quantity
        product = ctx.store["products"].get(price["product"], {})
        items.append({
            "id": new_id("li_"), "object": "item", "adjustable_quantity": None, "amount_discount": 0,
            "amount_subtotal": amount, "amount_tax": 0, "amount_total": amount, "currency": price["currency"],
            "description": product.get("name", ""), "metadata": {}, "price": copy.deepcopy(price),
            "quantity": quantity,
        })
    assert currency is not None
    return items, currency


def _custom_text(p: Mapping[str, Any]) -> JsonDict:
    raw = dict_param(p, "custom_text")
    check_keys(raw, _CUSTOM_TEXT, "custom_text")
    out: JsonDict = {}
    for key in _CUSTOM_TEXT:
        position = dict_param(raw, key, name=f"custom_text[{key}]")
        check_keys(position, {"message"}, f"custom_text[{key}]")
        message = str_param(position, "message", name=f"custom_text[{key}][message]", max_len=1200)
        out[key] = {"message": message} if message is not None else None
    return out


def _saved_options(p: Mapping[str, Any], customer: str | None) -> JsonDict | None:
    raw = dict_param(p, "saved_payment_method_options")
    check_keys(raw, {"payment_method_save", "payment_method_remove", "allow_redisplay_filters"},
               "saved_payment_method_options")
    name = "saved_payment_method_options"
    filters = [str(f) for f in list_param(raw, "allow_redisplay_filters", name=f"{name}[allow_redisplay_filters]")]
    for index, value in enumerate(filters):
        if value not in ("always", "limited", "unspecified"):
            raise invalid(f"Invalid {name}[allow_redisplay_filters][{index}]", f"{name}[allow_redisplay_filters]")
    save = enum_param(raw, "payment_method_save", ("disabled", "enabled"), name=f"{name}[payment_method_save]")
    remove = enum_param(raw, "payment_method_remove", ("disabled", "enabled"), name=f"{name}[payment_method_remove]")
    if customer is None and not raw:
        return None
    return {"allow_redisplay_filters": filters or ["always"], "payment_method_remove": remove,
            "payment_method_save": save}


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    for name in ("subscription_data", "setup_intent_data", "discounts", "shipping_options", "return_url",
                 "redirect_on_completion", "automatic_tax", "invoice_creation", "payment_method_options"):
        if name in p:
            raise unsupported(f"`{name}`", name)
    mode = required(enum_param(p, "mode", ("payment", "setup", "subscription")), "mode")
    if mode != "payment":
        raise unsupported(f"mode={mode} (only payment)", "mode")
    ui_mode = enum_param(p, "ui_mode", ("elements", "embedded_page", "hosted_page")) or "hosted_page"
    if ui_mode != "hosted_page":
        raise unsupported(f"ui_mode={ui_mode} (only hosted_page)", "ui_mode")
    customer = str_param(p, "customer")
    email = str_param(p, "customer_email", max_len=800)
    creation = enum_param(p, "customer_creation", ("always", "if_required"))
    if customer is not None and email is not None:
        raise invalid("You may only specify one of these parameters: customer, customer_email.", code=None)
    if customer is not None and creation is not None:
        raise invalid("You may only specify one of these parameters: customer, customer_creation.", code=None)
    if customer is not None:
        live_customer(ctx, customer, "customer")
    line_items, currency = _line_items(ctx, p.get("line_items"))
    expires_at = int_param(p, "expires_at")
    if expires_at is None:
        expires_at = req.now + MAX_SESSION_TTL
    elif not req.now + MIN_SESSION_TTL <= expires_at <= req.now + MAX_SESSION_TTL:
        raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session "
                      "creation.", "expires_at")
    pi_data = dict_param(p, "payment_intent_data")
    for name in _PI_DATA_UNSUPPORTED:
        if name in pi_data:
            raise unsupported(f"`payment_intent_data[{name}]`", f"payment_intent_data[{name}]")
    check_keys(pi_data, _PI_DATA, "payment_intent_data")
    future = enum_param(pi_data, "setup_future_usage", ("off_session", "on_session"),
                        name="payment_intent_data[setup_future_usage]")
    if enum_param(pi_data, "capture_method", ("automatic", "automatic_async", "manual"),
                  name="payment_intent_data[capture_method]") == "manual":
        raise unsupported("manual capture", "payment_intent_data[capture_method]")
    private_pi = {
        "metadata": metadata(pi_data.get("metadata"), "payment_intent_data[metadata]"),
        "description": str_param(pi_data, "description", name="payment_intent_data[description]", max_len=1000),
        "receipt_email": str_param(pi_data, "receipt_email", name="payment_intent_data[receipt_email]"),
        "statement_descriptor_suffix": str_param(
            pi_data, "statement_descriptor_suffix", name="payment_intent_data[statement_descriptor_suffix]", max_len=22
        ),
        "setup_future_usage": future,
    }
    methods = [str(m) for m in list_param(p, "payment_method_types")] or ["card"]
    for index, method in enumerate(methods):
        if method not in _METHOD_TYPES:
            raise unsupported(f"payment method type {method!r}", f"payment_method_types[{index}]")
    total = sum(li["amount_total"] for li in line_items)
    session_id = new_id("cs_test_", 58)
    session: JsonDict = {
        "id": session_id, "object": "checkout.session", "adaptive_pricing": None, "after_expiration": None,
        "allow_promotion_codes": bool_param(p, "allow_promotion_codes"), "amount_subtotal": total,
        "amount_total": total, "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": enum_param(p, "billing_address_collection", ("auto", "required")),
        "cancel_url": str_param(p, "cancel_url"),
        "client_reference_id": str_param(p, "client_reference_id", max_len=200), "client_secret": None,
        "collected_information": None, "consent": None, "consent_collection": None, "created": req.now,
        "currency": currency, "currency_conversion": None, "custom_fields": [], "custom_text": _custom_text(p),
        "customer": customer, "customer_account": None,
        "customer_creation": None if customer is not None else (creation or "if_required"),
        "customer_details": None, "customer_email": email, "discounts": [], "expires_at": expires_at,
        "integration_identifier": None, "invoice": None, "invoice_creation": None, "livemode": False,
        "locale": str_param(p, "locale"), "metadata": metadata(p.get("metadata")), "mode": "payment",
        "optional_items": None, "origin_context": None, "payment_intent": None, "payment_link": None,
        "payment_method_collection": "if_required", "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}} if "card" in methods else {},
        "payment_method_types": methods, "payment_status": "unpaid", "permissions": None,
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "saved_payment_method_options": _saved_options(p, customer), "setup_intent": None,
        "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [], "status": "open",
        "submit_type": enum_param(p, "submit_type", ("auto", "book", "donate", "pay", "subscribe")),
        "subscription": None, "success_url": str_param(p, "success_url"),
        "tax_id_collection": {"enabled": False, "required": "never"},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted_page",
        "url": f"{ctx.public_base}{PREFIX}/checkout/{session_id}", "wallet_options": None,
    }
    ctx.store.put("checkout_sessions", session)
    ctx.store["session_private"][session_id] = {"line_items": line_items, "payment_intent_data": private_pi}
    return Result(200, copy.deepcopy(session))


def line_items_page(ctx: Context, session: JsonDict, params: Mapping[str, Any] | None = None) -> JsonDict:
    items = ctx.store["session_private"].get(session["id"], {}).get("line_items", [])
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return ctx.store.page("line_items", list(items), params or {}, url)


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("checkout_sessions", m.group(1), "session")))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    for name in ("customer_account", "payment_link", "subscription"):
        if name in p:
            raise unsupported(f"the `{name}` filter", name)
    status = enum_param(p, "status", ("complete", "expired", "open"))
    payment_intent = str_param(p, "payment_intent")
    customer = str_param(p, "customer")
    details = dict_param(p, "customer_details")
    check_keys(details, {"email"}, "customer_details")
    email = str_param(details, "email", name="customer_details[email]")
    accept_created = created_filter(p)
    items = [
        s
        for s in ctx.store.newest_first("checkout_sessions")
        if (status is None or s["status"] == status)
        and (payment_intent is None or s["payment_intent"] == payment_intent)
        and (customer is None or s["customer"] == customer)
        and (email is None or (s["customer_details"] or {}).get("email") == email)
        and accept_created(s["created"])
    ]
    return Result(200, ctx.store.page("checkout_sessions", items, p, "/v1/checkout/sessions"))


def _list_line_items(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    session = ctx.store.get("checkout_sessions", m.group(1), "session")
    return Result(200, line_items_page(ctx, session, req.params))


def expire_session(ctx: Context, session: JsonDict, req: Request | None, *, deliver: bool) -> str:
    if session["status"] != "open":
        raise invalid(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status '
            f'of "{session["status"]}".'
        )
    session["status"] = "expired"
    session["url"] = None
    return ctx.bus.emit("checkout.session.expired", session, req, deliver=deliver)


def _expire(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    session = ctx.store.get("checkout_sessions", m.group(1), "session")
    event_id = expire_session(ctx, session, req, deliver=True)
    return Result(200, copy.deepcopy(session), deliver=[event_id])


def sweep_expired(ctx: Context) -> list[str]:
    """Expire open sessions past ``expires_at`` (Stripe does so on its own); return events to deliver."""
    now = ctx.now()
    return [
        expire_session(ctx, s, None, deliver=True)
        for s in list(ctx.store["checkout_sessions"].values())
        if s["status"] == "open" and s["expires_at"] <= now
    ]


ROUTES: list[Route] = [
    api("POST", "/v1/checkout/sessions", _create, {
        "mode", "line_items", "client_reference_id", "customer_email", "customer", "customer_creation", "metadata",
        "payment_intent_data", "success_url", "cancel_url", "expires_at", "payment_method_types", "locale",
        "submit_type", "allow_promotion_codes", "billing_address_collection", "ui_mode",
        "saved_payment_method_options", "custom_text", "subscription_data", "setup_intent_data", "discounts",
        "shipping_options", "return_url", "redirect_on_completion", "automatic_tax", "invoice_creation",
        "payment_method_options",
    }),
    api("GET", "/v1/checkout/sessions", _list, {"status", "created", "payment_intent", "customer", "customer_details",
                                               "customer_account", "payment_link", "subscription", "limit",
                                               "starting_after", "ending_before"}),
    api("GET", "/v1/checkout/sessions/{session}", _retrieve),
    api("POST", "/v1/checkout/sessions/{session}/expire", _expire),
    api("GET", "/v1/checkout/sessions/{session}/line_items", _list_line_items, {"limit", "starting_after",
                                                                          "ending_before"}),
]
