"""Events: recording them as Stripe does, signing and delivering them, and the events API and resend.

Every event goes to the default webhook (the simulator's ``webhook_url``, like ``stripe listen --forward-to``)
and to each enabled webhook endpoint whose ``enabled_events`` match it (``*`` allowed), each signed with that
endpoint's own secret in Stripe's ``Stripe-Signature`` format. Deliveries retry 5xx / 429 / connection errors.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from local.stripe_sim.core import API_VERSION, Context, Request, Result, Route, api, sim
from local.stripe_sim.errors import JsonDict, invalid
from local.stripe_sim.forms import bool_param, created_filter, list_param, str_param
from local.stripe_sim.state import Store, new_id


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``payload`` at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def matches(enabled_events: list[str], event_type: str) -> bool:
    return "*" in enabled_events or event_type in enabled_events


def _new_record(*, suppressed: bool) -> JsonDict:
    return {"attempts": [], "status": None, "delivered": False, "suppressed": suppressed}


class EventBus:
    """Records events under the store's lock; delivers them later, outside it."""

    def __init__(
        self,
        store: Store,
        *,
        webhook_url: str | None,
        webhook_secret: str,
        attempts: int,
        backoff: float,
        timeout: float,
        signing_clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.webhook_url = webhook_url or None
        self.webhook_secret = webhook_secret
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        # Signatures use wall time by default: receivers check them against their own clock.
        self.signing_clock = signing_clock
        # No proxies: HTTP(S)_PROXY in the environment must not capture localhost webhook traffic.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        store.presenters["events"] = self.present

    # --- recording (callers hold the lock)

    def emit(
        self, type_: str, obj: JsonDict, req: Request | None, *, deliver: bool, previous: JsonDict | None = None
    ) -> str:
        """Record an event holding a snapshot of ``obj``; the caller delivers it after releasing the lock."""
        event_id = new_id("evt_")
        data: JsonDict = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        endpoints = [
            we["id"]
            for we in self.store["webhook_endpoints"].values()
            if we["status"] == "enabled" and matches(we["enabled_events"], type_)
        ]
        via_api = req is not None and req.via_api
        self.store["events"][event_id] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.store.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 + len(endpoints),
            "request": {
                "id": req.request_id if via_api and req is not None else None,
                "idempotency_key": req.idempotency_key if via_api and req is not None else None,
            },
            "type": type_,
        }
        self.store["deliveries"][event_id] = _new_record(suppressed=not deliver)
        self.store["endpoint_deliveries"][event_id] = {we: _new_record(suppressed=not deliver) for we in endpoints}
        return event_id

    def present(self, event: JsonDict) -> JsonDict:
        out = copy.deepcopy(event)
        default = self.store["deliveries"].get(event["id"], {}).get("delivered", False)
        endpoints = self.store["endpoint_deliveries"].get(event["id"], {}).values()
        out["pending_webhooks"] = (0 if default else 1) + sum(1 for r in endpoints if not r["delivered"])
        return out

    def type_of(self, event_id: str) -> str | None:
        with self.store.lock:
            event = self.store["events"].get(event_id)
            return event["type"] if event is not None else None

    # --- delivery (never under the lock)

    def deliver(self, event_id: str, only: str | None = None) -> JsonDict:
        """POST the event, freshly signed, to the default webhook and its endpoints (or to ``only`` one).

        Returns ``{"status": <default webhook's final HTTP status or None>}`` plus ``webhook_endpoints``
        (endpoint id -> status) when there are any; with ``only``, ``status`` is that endpoint's.
        """
        with self.store.lock:
            event = self.store["events"].get(event_id)
            if event is None:
                return {"status": None}
            payload = json.dumps(event, indent=2).encode("utf-8")
            targets: list[tuple[str | None, str, str]] = []
            if only is None and self.webhook_url is not None:
                targets.append((None, self.webhook_url, self.webhook_secret))
            records = self.store["endpoint_deliveries"].setdefault(event_id, {})
            for we_id in [only] if only is not None else list(records):
                we = self.store["webhook_endpoints"].get(we_id)
                if we is not None and (only is not None or we["status"] == "enabled"):
                    targets.append((we_id, we["url"], self.store["endpoint_secrets"][we_id]))
        if only is None and self.webhook_url is None:
            self._record(event_id, None, None, "no webhook_url configured", "")
        report: JsonDict = {"status": None}
        endpoint_statuses: dict[str, int | None] = {}
        for we_id, url, secret in targets:
            status = self._deliver_to(event_id, we_id, url, secret, payload)
            if we_id is None or we_id == only:
                report["status"] = status
            if we_id is not None:
                endpoint_statuses[we_id] = status
        if endpoint_statuses:
            report["webhook_endpoints"] = endpoint_statuses
        return report

    def _deliver_to(self, event_id: str, we_id: str | None, url: str, secret: str, payload: bytes) -> int | None:
        status: int | None = None
        for attempt in range(1, self.attempts + 1):
            header = sign_payload(payload, secret, int(self.signing_clock()))
            status, error, snippet = self._post(url, payload, header)
            self._record(event_id, we_id, status, error, snippet)
            if status is not None and status < 500 and status != 429:
                break
            if attempt < self.attempts:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
        return status

    def _post(self, url: str, payload: bytes, signature: str) -> tuple[int | None, str | None, str]:
        request = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, None, response.read(500).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            snippet = exc.read(500).decode("utf-8", "replace") if exc.fp is not None else ""
            return exc.code, None, snippet
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}", ""

    def _record(self, event_id: str, we_id: str | None, status: int | None, error: str | None, snippet: str) -> None:
        with self.store.lock:
            if we_id is None:
                record = self.store["deliveries"].setdefault(event_id, _new_record(suppressed=False))
            else:
                records = self.store["endpoint_deliveries"].setdefault(event_id, {})
                record = records.setdefault(we_id, _new_record(suppressed=False))
            record["attempts"].append({"at": int(time.time()), "status": status, "error": error, "response": snippet})
            del record["attempts"][:-50]
            record["status"] = status
            record["delivered"] = record["delivered"] or (status is not None and 200 <= status < 300)
            self.store.save()


# --- API: GET /v1/events, GET /v1/events/{id}


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    type_ = str_param(p, "type")
    types = {str(t) for t in list_param(p, "types")}
    delivery_success = bool_param(p, "delivery_success")
    accept_created = created_filter(p)
    deliveries = ctx.store["deliveries"]

    def type_matches(event_type: str) -> bool:
        # Stripe allows one trailing wildcard, e.g. type=checkout.session.*
        if type_ is None:
            return True
        if type_.endswith("*"):
            return event_type.startswith(type_[:-1])
        return event_type == type_

    items = [
        ev
        for ev in ctx.store.newest_first("events")
        if type_matches(ev["type"])
        and (not types or ev["type"] in types)
        and accept_created(ev["created"])
        and (delivery_success is None or deliveries.get(ev["id"], {}).get("delivered", False) == delivery_success)
    ]
    return Result(200, ctx.store.page("events", items, p, "/v1/events"))


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, ctx.store.public("events", ctx.store.get("events", m.group(1), "id")))


# --- simulator-only: resend, and an event with its delivery record


def _resend(ctx: Context, req: Request, m: re.Match[str]) -> Result:
    event = ctx.store.get("events", m.group(1), "id")
    only = req.params.get("webhook_endpoint")
    if only is not None:
        if not isinstance(only, str):
            raise invalid("`webhook_endpoint` must be a webhook endpoint id.", "webhook_endpoint")
        ctx.store.get("webhook_endpoints", only, "webhook_endpoint")
    return Result(
        200, {"event_id": event["id"]}, deliver=[event["id"]], status_key="status", report_delivery=True,
        only_endpoint=only,
    )


def _sim_event(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    event: dict[str, Any] = ctx.store.public("events", ctx.store.get("events", m.group(1), "id"))
    event["_delivery"] = copy.deepcopy(ctx.store["deliveries"].get(event["id"]))
    event["_webhook_endpoints"] = copy.deepcopy(ctx.store["endpoint_deliveries"].get(event["id"], {}))
    return Result(200, event)


ROUTES: list[Route] = [
    api(
        "GET",
        "/v1/events",
        _list,
        {"type", "types", "created", "delivery_success", "limit", "starting_after", "ending_before"},
    ),
    api("GET", "/v1/events/{id}", _retrieve),
    sim("POST", "/events/{id}/resend", _resend, {"webhook_endpoint"}),
    sim("GET", "/events/{id}", _sim_event),
]
