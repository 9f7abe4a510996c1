"""Prices: ``/v1/prices`` create, retrieve, update and list (one-time prices with a ``unit_amount``)."""

from __future__ import annotations

import copy
import re

from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import invalid, unsupported
from local.stripe_sim.forms import (
    bool_param,
    check_keys,
    created_filter,
    dict_param,
    enum_param,
    int_param,
    list_param,
    merge_metadata,
    metadata,
    required,
    str_param,
)
from local.stripe_sim.products import create_product
from local.stripe_sim.state import new_id

_TAX_BEHAVIOR = ("exclusive", "inclusive", "unspecified")


def _claim_lookup_key(ctx: Context, lookup_key: str, *, transfer: bool, owner: str | None = None) -> None:
    holder = next(
        (pr for pr in ctx.store["prices"].values() if pr["lookup_key"] == lookup_key and pr["id"] != owner),
        None,
    )
    if holder is None:
        return
    if not transfer:
        raise invalid(
            f"A price (`{holder['id']}`) already uses that lookup key. Pass "
            "`transfer_lookup_key=true` to move it to this price.",
            "lookup_key",
        )
    holder["lookup_key"] = None


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    for name in ("recurring", "unit_amount_decimal", "custom_unit_amount", "tiers", "currency_options"):
        if name in p:
            raise unsupported(f"`{name}` (one-time prices with unit_amount only)", name)
    enum_param(p, "billing_scheme", ("per_unit",))
    currency = required(str_param(p, "currency"), "currency").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise invalid(f"Invalid currency: {currency}", "currency")
    unit_amount = required(int_param(p, "unit_amount", minimum=0, maximum=99_999_999), "unit_amount")
    tax_behavior = enum_param(p, "tax_behavior", _TAX_BEHAVIOR)
    lookup_key = str_param(p, "lookup_key", max_len=200)
    product_id = str_param(p, "product")
    if product_id is None and "product_data" in p:
        data = dict_param(p, "product_data")
        check_keys(data, {"name", "metadata", "active", "statement_descriptor", "unit_label", "tax_code", "id"},
                   "product_data")
        product_id = create_product(ctx, data, req.now)["id"]
    product = ctx.store.get("products", required(product_id, "product"), "product")
    if lookup_key is not None:
        _claim_lookup_key(ctx, lookup_key, transfer=bool(bool_param(p, "transfer_lookup_key")))
    price = {
        "id": new_id("price_"),
        "object": "price",
        "active": bool_param(p, "active") is not False,
        "billing_scheme": "per_unit",
        "created": req.now,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata(p.get("metadata")),
        "nickname": str_param(p, "nickname"),
        "product": product["id"],
        "recurring": None,
        "tax_behavior": tax_behavior or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    return Result(200, copy.deepcopy(ctx.store.put("prices", price)))


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("prices", m.group(1), "price")))


def _update(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    p = req.params
    price = ctx.store.get("prices", m.group(1), "price")
    if "currency_options" in p:
        raise unsupported("`currency_options`", "currency_options")
    tax_behavior = enum_param(p, "tax_behavior", _TAX_BEHAVIOR)
    new_metadata = merge_metadata(price["metadata"], p.get("metadata"))
    if "lookup_key" in p:
        lookup_key = str_param(p, "lookup_key", max_len=200)
        if lookup_key is not None:
            _claim_lookup_key(ctx, lookup_key, transfer=bool(bool_param(p, "transfer_lookup_key")), owner=price["id"])
        price["lookup_key"] = lookup_key
    if "active" in p:
        price["active"] = bool(bool_param(p, "active"))
    if "nickname" in p:
        price["nickname"] = str_param(p, "nickname")
    if "tax_behavior" in p:
        price["tax_behavior"] = tax_behavior or "unspecified"
    price["metadata"] = new_metadata
    return Result(200, copy.deepcopy(price))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    if "recurring" in p:
        raise unsupported("recurring prices", "recurring")
    active = bool_param(p, "active")
    currency = str_param(p, "currency")
    product = str_param(p, "product")
    type_ = enum_param(p, "type", ("one_time", "recurring"))
    lookup_keys = {str(k) for k in list_param(p, "lookup_keys")}
    if len(lookup_keys) > 10:
        raise invalid("You may pass at most 10 lookup_keys.", "lookup_keys")
    accept_created = created_filter(p)
    items = [
        pr
        for pr in ctx.store.newest_first("prices")
        if (active is None or pr["active"] == active)
        and (currency is None or pr["currency"] == currency.lower())
        and (product is None or pr["product"] == product)
        and (type_ is None or pr["type"] == type_)
        and (not lookup_keys or pr["lookup_key"] in lookup_keys)
        and accept_created(pr["created"])
    ]
    return Result(200, ctx.store.page("prices", items, p, "/v1/prices"))


ROUTES: list[Route] = [
    api(
        "POST",
        "/v1/prices",
        _create,
        {"product", "product_data", "unit_amount", "currency", "lookup_key", "transfer_lookup_key", "metadata",
         "active", "nickname", "tax_behavior", "billing_scheme", "recurring", "unit_amount_decimal",
         "custom_unit_amount", "tiers", "currency_options"},
    ),
    api("GET", "/v1/prices", _list, {"active", "currency", "product", "type", "lookup_keys", "created", "recurring",
                                    "limit", "starting_after", "ending_before"}),
    api("GET", "/v1/prices/{price}", _retrieve),
    api("POST", "/v1/prices/{price}", _update, {"active", "metadata", "lookup_key", "transfer_lookup_key",
                                               "nickname", "tax_behavior", "currency_options"}),
]
