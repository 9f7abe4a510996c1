"""Products: ``/v1/products`` create, retrieve, update and list."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, StripeApiError, invalid
from local.stripe_sim.forms import (
    bool_param,
    created_filter,
    list_param,
    merge_metadata,
    metadata,
    required,
    str_param,
)
from local.stripe_sim.state import new_id

_FIELDS = frozenset(
    {"name", "active", "description", "metadata", "images", "statement_descriptor", "unit_label", "url", "tax_code",
     "shippable"}
)
_TEXT = ("name", "description", "statement_descriptor", "unit_label", "url", "tax_code")


def create_product(ctx: Context, p: Mapping[str, Any], now: int) -> JsonDict:
    name = required(str_param(p, "name", max_len=250), "name")
    product_id = str_param(p, "id", max_len=100) or new_id("prod_", 14)
    if product_id in ctx.store["products"]:
        raise StripeApiError(400, f"Product already exists: {product_id}", code="resource_already_exists", param="id")
    product = {
        "id": product_id,
        "object": "product",
        "active": bool_param(p, "active") is not False,
        "created": now,
        "default_price": None,
        "description": str_param(p, "description"),
        "images": [str(i) for i in list_param(p, "images")],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata(p.get("metadata")),
        "name": name,
        "package_dimensions": None,
        "shippable": bool_param(p, "shippable"),
        "statement_descriptor": str_param(p, "statement_descriptor", max_len=22),
        "tax_code": str_param(p, "tax_code"),
        "unit_label": str_param(p, "unit_label", max_len=12),
        "updated": now,
        "url": str_param(p, "url"),
    }
    return ctx.store.put("products", product)


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(create_product(ctx, req.params, req.now)))


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("products", m.group(1), "id")))


def _update(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    p = req.params
    product = ctx.store.get("products", m.group(1), "id")
    changes: JsonDict = {}
    for key in _TEXT:
        if key in p:
            changes[key] = str_param(p, key)
    if "name" in changes and changes["name"] is None:
        raise StripeApiError(400, "You must provide a name.", code="parameter_missing", param="name")
    for key in ("active", "shippable"):
        if key in p:
            changes[key] = bool_param(p, key)
    if "images" in p:
        changes["images"] = [str(i) for i in list_param(p, "images")]
    if "default_price" in p:
        price_id = str_param(p, "default_price")
        if price_id is not None:
            price = ctx.store.get("prices", price_id, "default_price")
            if price["product"] != product["id"]:
                raise invalid("The default price must belong to this product.", "default_price", code=None)
        changes["default_price"] = price_id
    changes["metadata"] = merge_metadata(product["metadata"], p.get("metadata"))
    product.update(changes)
    product["updated"] = req.now
    return Result(200, copy.deepcopy(product))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    active = bool_param(p, "active")
    shippable = bool_param(p, "shippable")
    url = str_param(p, "url")
    ids = set(list_param(p, "ids"))
    accept_created = created_filter(p)
    items = [
        prod
        for prod in ctx.store.newest_first("products")
        if (active is None or prod["active"] == active)
        and (shippable is None or prod["shippable"] == shippable)
        and (url is None or prod["url"] == url)
        and (not ids or prod["id"] in ids)
        and accept_created(prod["created"])
    ]
    return Result(200, ctx.store.page("products", items, p, "/v1/products"))


ROUTES: list[Route] = [
    api("POST", "/v1/products", _create, _FIELDS | {"id"}),
    api("GET", "/v1/products", _list, {"active", "ids", "created", "shippable", "url", "limit", "starting_after",
                                      "ending_before"}),
    api("GET", "/v1/products/{id}", _retrieve),
    api("POST", "/v1/products/{id}", _update, _FIELDS | {"default_price"}),
]
