"""Webhook endpoints: ``/v1/webhook_endpoints`` create (the only answer that shows ``secret``), list, retrieve,
update and delete. ``api_version`` is fixed at creation, as on Stripe; events are delivered by ``events.EventBus``.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from local.stripe_sim.core import API_VERSION, Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, invalid, unsupported
from local.stripe_sim.event_types import EVENT_TYPES
from local.stripe_sim.forms import bool_param, list_param, merge_metadata, metadata, required, str_param
from local.stripe_sim.state import new_id


def _url(p: Mapping[str, Any]) -> str | None:
    url = str_param(p, "url")
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"Invalid URL: {url}. URLs must begin with http:// or https://.", "url", code="url_invalid")
    return url


def _enabled_events(p: Mapping[str, Any]) -> list[str]:
    events = [str(e) for e in list_param(p, "enabled_events")]
    if not events:
        raise invalid("Missing required param: enabled_events.", "enabled_events", code="parameter_missing")
    for index, name in enumerate(events):
        if name != "*" and name not in EVENT_TYPES:
            raise invalid(f"Invalid enabled_events[{index}]: {name!r} is not a Stripe event type.",
                          f"enabled_events[{index}]")
    return list(dict.fromkeys(events))


def _create(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    if bool_param(p, "connect"):
        raise unsupported("Connect webhook endpoints", "connect")
    url = required(_url(p), "url")
    enabled = _enabled_events(p)
    version = str_param(p, "api_version")
    if version is not None and version != API_VERSION:
        raise unsupported(f"rendering events in API version {version} (only {API_VERSION})", "api_version")
    endpoint: JsonDict = {
        "id": new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": version,
        "application": None,
        "created": req.now,
        "description": str_param(p, "description"),
        "enabled_events": enabled,
        "livemode": False,
        "metadata": metadata(p.get("metadata")),
        "status": "enabled",
        "url": url,
    }
    ctx.store.put("webhook_endpoints", endpoint)
    secret = new_id("whsec_", 32)
    ctx.store["endpoint_secrets"][endpoint["id"]] = secret
    return Result(200, {**copy.deepcopy(endpoint), "secret": secret})


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("webhook_endpoints", m.group(1), "webhook_endpoint")))


def _update(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    p = req.params
    endpoint = ctx.store.get("webhook_endpoints", m.group(1), "webhook_endpoint")
    changes: JsonDict = {}
    if "url" in p:
        changes["url"] = required(_url(p), "url")
    if "enabled_events" in p:
        changes["enabled_events"] = _enabled_events(p)
    if "description" in p:
        changes["description"] = str_param(p, "description")
    disabled = bool_param(p, "disabled")
    if disabled is not None:
        changes["status"] = "disabled" if disabled else "enabled"
    changes["metadata"] = merge_metadata(endpoint["metadata"], p.get("metadata"))
    endpoint.update(changes)
    return Result(200, copy.deepcopy(endpoint))


def _delete(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    endpoint = ctx.store.get("webhook_endpoints", m.group(1), "webhook_endpoint")
    del ctx.store["webhook_endpoints"][endpoint["id"]]
    ctx.store["endpoint_secrets"].pop(endpoint["id"], None)
    return Result(200, {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True})


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    items = ctx.store.newest_first("webhook_endpoints")
    return Result(200, ctx.store.page("webhook_endpoints", items, req.params, "/v1/webhook_endpoints"))


ROUTES: list[Route] = [
    api("POST", "/v1/webhook_endpoints", _create, {"url", "enabled_events", "api_version", "description",
                                                  "metadata", "connect"}),
    api("GET", "/v1/webhook_endpoints", _list, {"limit", "starting_after", "ending_before"}),
    api("GET", "/v1/webhook_endpoints/{webhook_endpoint}", _retrieve),
    api("POST", "/v1/webhook_endpoints/{webhook_endpoint}", _update, {"url", "enabled_events", "disabled",
                                                                     "description", "metadata"}),
    api("DELETE", "/v1/webhook_endpoints/{webhook_endpoint}", _delete),
]
