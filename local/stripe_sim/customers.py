"""Customers: ``/v1/customers`` create, retrieve, update (e.g. the default payment method), list and delete."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, StripeApiError, missing
from local.stripe_sim.forms import check_keys, created_filter, dict_param, merge_metadata, metadata, str_param
from local.stripe_sim.payment_methods import attach
from local.stripe_sim.state import new_id

_TEXT = {"email": 512, "name": 256, "description": 5000, "phone": 20}


def live_customer(ctx: Context, customer_id: str, param: str | None) -> JsonDict:
    customer = ctx.store.get("customers", customer_id, param)
    if customer.get("deleted"):
        raise missing("customer", customer_id, param)
    return customer


def new_customer(ctx: Context, *, email: str | None, name: str | None = None) -> JsonDict:
    customer: JsonDict = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": new_id("", 8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    return ctx.store.put("customers", customer)


def _default_method(
    ctx: Context, customer_id: str | None, p: Mapping[str, Any], attaching: str | None = None
) -> str | None:
    """``invoice_settings[default_payment_method]``: it must be (or be about to be) attached to the customer."""
    settings = dict_param(p, "invoice_settings")
    check_keys(settings, {"default_payment_method"}, "invoice_settings")
    param = "invoice_settings[default_payment_method]"
    pm_id = str_param(settings, "default_payment_method", name=param)
    if pm_id is None:
        return None
    method = ctx.store["payment_methods"].get(pm_id)
    attached = method is not None and customer_id is not None and method["customer"] == customer_id
    if not attached and pm_id != attaching:
        raise StripeApiError(
            400,
            f"No such PaymentMethod: '{pm_id}'; The payment method must be attached to the customer.",
            code="resource_missing",
            param=param,
        )
    return pm_id


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    texts = {key: str_param(p, key, max_len=limit) for key, limit in _TEXT.items()}
    meta = metadata(p.get("metadata"))
    pm_id = str_param(p, "payment_method")
    method = ctx.store.get("payment_methods", pm_id, "payment_method") if pm_id is not None else None
    if method is not None and method["customer"] is not None:
        raise StripeApiError(
            400, "The payment method you provided has already been attached to a customer.", param="payment_method"
        )
    default = _default_method(ctx, None, p, attaching=pm_id)
    customer = new_customer(ctx, email=texts["email"], name=texts["name"])
    customer.update({"description": texts["description"], "phone": texts["phone"], "metadata": meta})
    customer["invoice_settings"]["default_payment_method"] = default
    events = [ctx.bus.emit("customer.created", customer, req, deliver=True)]
    if method is not None:
        events += attach(ctx, method, customer["id"], req, deliver=True)
    return Result(200, copy.deepcopy(customer), deliver=events)


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("customers", m.group(1), "customer")))


def _update(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    p = req.params
    customer = live_customer(ctx, m.group(1), "customer")
    changes: JsonDict = {key: str_param(p, key, max_len=limit) for key, limit in _TEXT.items() if key in p}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(customer["metadata"], p.get("metadata"))
    if "invoice_settings" in p:
        settings = dict(customer["invoice_settings"])
        settings["default_payment_method"] = _default_method(ctx, customer["id"], p)
        changes["invoice_settings"] = settings
    previous = {k: copy.deepcopy(customer[k]) for k, v in changes.items() if customer[k] != v}
    customer.update(changes)
    events = [ctx.bus.emit("customer.updated", customer, req, deliver=True, previous=previous)] if previous else []
    return Result(200, copy.deepcopy(customer), deliver=events)


def _delete(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    customer = live_customer(ctx, m.group(1), "customer")
    events = [ctx.bus.emit("customer.deleted", customer, req, deliver=True)]
    for method in ctx.store["payment_methods"].values():
        if method["customer"] == customer["id"]:
            method["customer"] = None
    stub = {"id": customer["id"], "object": "customer", "deleted": True}
    ctx.store["customers"][customer["id"]] = stub
    return Result(200, copy.deepcopy(stub), deliver=events)


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    email = str_param(p, "email", max_len=512)
    accept_created = created_filter(p)
    items = [
        c
        for c in ctx.store.newest_first("customers")
        if not c.get("deleted") and (email is None or c["email"] == email) and accept_created(c["created"])
    ]
    return Result(200, ctx.store.page("customers", items, p, "/v1/customers"))


_WRITABLE = {"email", "name", "description", "phone", "metadata", "invoice_settings"}
ROUTES: list[Route] = [
    api("POST", "/v1/customers", _create, _WRITABLE | {"payment_method"}),
    api("GET", "/v1/customers", _list, {"email", "created", "limit", "starting_after", "ending_before"}),
    api("GET", "/v1/customers/{customer}", _retrieve),
    api("POST", "/v1/customers/{customer}", _update, _WRITABLE),
    api("DELETE", "/v1/customers/{customer}", _delete),
]
