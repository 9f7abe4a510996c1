"""The simulator's state: collections of Stripe objects, persisted to one JSON file, plus ids, lists and expansion.

One lock guards everything; handlers run with it held, webhooks are sent after it is released.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from local.stripe_sim.errors import JsonDict, StripeApiError, invalid, missing
from local.stripe_sim.forms import created_filter, int_param, str_param

STATE_VERSION = 2
_ALPHABET = string.ascii_letters + string.digits

# collection -> (id prefixes, the name Stripe uses in "No such ..." messages)
COLLECTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "products": (("prod_",), "product"),
    "prices": (("price_",), "price"),
    "checkout_sessions": (("cs_",), "checkout.session"),
    "payment_intents": (("pi_",), "payment_intent"),
    "charges": (("ch_", "py_"), "charge"),
    "balance_transactions": (("txn_",), "balance transaction"),
    "refunds": (("re_", "pyr_"), "refund"),
    "disputes": (("dp_", "du_"), "dispute"),
    "customers": (("cus_",), "customer"),
    "payment_methods": (("pm_",), "PaymentMethod"),
    "webhook_endpoints": (("we_",), "webhook endpoint"),
    "events": (("evt_",), "event"),
}
# Expandable fields whose ids need not carry their prefix (products take custom ids).
FIELD_COLLECTIONS = {"product": "products", "default_price": "prices", "price": "prices"}
# Simulator bookkeeping that is never shown as a Stripe object.
PRIVATE = ("session_private", "method_state", "deliveries", "endpoint_deliveries", "endpoint_secrets", "idempotency")

ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def format_amount(amount: int, currency: str) -> str:
    cur = currency.lower()
    text = f"{amount:,}" if cur in ZERO_DECIMAL_CURRENCIES else f"{amount / 100:,.2f}"
    symbols = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}
    return f"{symbols[cur]}{text}" if cur in symbols else f"{text} {cur.upper()}"


def empty_state() -> JsonDict:
    state: JsonDict = {"version": STATE_VERSION}
    for name in (*COLLECTIONS, *PRIVATE):
        state[name] = {}
    return state


# Renders a stored object as the API shows it (e.g. an event's live pending_webhooks count).
Presenter = Callable[[JsonDict], JsonDict]
# Produces an "includable" property that is only present when expanded (e.g. a session's line_items).
Includer = Callable[[JsonDict], Any]


class Store:
    """The state dict plus the helpers every resource needs; callers hold ``lock`` around reads and writes."""

    def __init__(self, path: Path | None, clock: Callable[[], float]) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock
        # Reentrant so helpers can take it again. Never held while a webhook is in flight: the receiver
        # (often this same process) may call back into the simulator while handling the event.
        self.lock = threading.RLock()
        self.data = self._load()
        self.presenters: dict[str, Presenter] = {}
        self.includers: dict[tuple[str, str], Includer] = {}

    def now(self) -> int:
        return int(self.clock())

    def __getitem__(self, collection: str) -> dict[str, Any]:
        table: dict[str, Any] = self.data[collection]
        return table

    # --- objects

    def get(self, collection: str, obj_id: str, param: str | None) -> JsonDict:
        obj: JsonDict | None = self.data[collection].get(obj_id)
        if obj is None:
            raise missing(COLLECTIONS[collection][1], obj_id, param)
        return obj

    def put(self, collection: str, obj: JsonDict) -> JsonDict:
        self.data[collection][obj["id"]] = obj
        return obj

    def newest_first(self, collection: str) -> list[JsonDict]:
        # Insertion order is creation order; Stripe lists newest first.
        return list(reversed(list(self.data[collection].values())))

    def public(self, collection: str, obj: JsonDict) -> JsonDict:
        presenter = self.presenters.get(collection)
        return presenter(obj) if presenter is not None else copy.deepcopy(obj)

    def collection_of(self, obj_id: str) -> str | None:
        for collection, (prefixes, _) in COLLECTIONS.items():
            if obj_id.startswith(prefixes):
                return collection
        return None

    def lookup_any(self, obj_id: str, field: str | None = None) -> JsonDict | None:
        collection = self.collection_of(obj_id) or FIELD_COLLECTIONS.get(field or "")
        if collection is None:
            return None
        found = self.data[collection].get(obj_id)
        return self.public(collection, found) if found is not None else None

    # --- lists

    def list_page(self, collection: str, params: Mapping[str, Any], url: str, *equal: str) -> JsonDict:
        """A list endpoint whose filters are ``created`` and exact matches on the fields named in ``equal``
        (each a string parameter of the same name), newest first and paged."""
        wanted = {name: value for name in equal if (value := str_param(params, name)) is not None}
        accept_created = created_filter(params)
        items = [obj for obj in self.newest_first(collection)
                 if all(obj.get(name) == value for name, value in wanted.items()) and accept_created(obj["created"])]
        return self.page(collection, items, params, url)

    def page(self, collection: str, items: list[JsonDict], params: Mapping[str, Any], url: str) -> JsonDict:
        """A Stripe list object over ``items`` (newest first) with limit / starting_after / ending_before."""
        limit = int_param(params, "limit", minimum=1, maximum=100) or 10
        after = str_param(params, "starting_after")
        before = str_param(params, "ending_before")
        ids = [item["id"] for item in items]
        if after is not None and before is not None:
            raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
        if after is not None:
            if after not in ids:
                raise StripeApiError(400, f"No such object: '{after}'", code="resource_missing", param="starting_after")
            rest = items[ids.index(after) + 1 :]
            chosen, has_more = rest[:limit], len(rest) > limit
        elif before is not None:
            if before not in ids:
                raise StripeApiError(400, f"No such object: '{before}'", code="resource_missing", param="ending_before")
            rest = items[: ids.index(before)]
            chosen, has_more = rest[-limit:], len(rest) > limit
        else:
            chosen, has_more = items[:limit], len(items) > limit
        return {
            "object": "list",
            "data": [self.public(collection, item) for item in chosen],
            "has_more": has_more,
            "url": url,
        }

    # --- expansion

    def expand(self, body: JsonDict, paths: list[str]) -> JsonDict:
        out = copy.deepcopy(body)
        for path in paths:
            self._expand_path(out, path.split("."), path)
        return out

    def _expand_path(self, obj: JsonDict, parts: list[str], full: str) -> None:
        head, rest = parts[0], parts[1:]
        if obj.get("object") == "list" and head == "data":
            for item in obj.get("data", []):
                if rest:
                    self._expand_path(item, rest, full)
            return
        includer = self.includers.get((str(obj.get("object")), head))
        if includer is not None:
            obj[head] = includer(obj)
        elif head not in obj:
            raise invalid(f"This property cannot be expanded ({full}).", "expand", code=None)
        value = obj[head]
        if isinstance(value, str):
            expanded = self.lookup_any(value, head)
            if expanded is None:
                raise invalid(f"This property cannot be expanded ({full}).", "expand", code=None)
            obj[head] = value = expanded
        if rest and isinstance(value, dict):
            self._expand_path(value, rest, full)

    # --- persistence

    def _load(self) -> JsonDict:
        state = empty_state()
        if self.path is None or not self.path.exists():
            return state
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            # A broken file must not stop `make dev`; keep it for inspection and start empty.
            return self._set_aside(state, "corrupt", str(exc))
        if loaded.get("version") != STATE_VERSION:
            # Older simulators shaped objects for another API version; their objects are not carried over.
            return self._set_aside(state, f"old-v{loaded.get('version')}", "written by another simulator version")
        state.update(loaded)
        return state

    def _set_aside(self, state: JsonDict, label: str, why: str) -> JsonDict:
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.{label}-{int(time.time())}")
        self.path.replace(aside)
        print(f"stripe_sim: could not load {self.path} ({why}); moved to {aside}", file=sys.stderr)
        return state

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data), encoding="utf-8")
        # Atomic replace: a crash mid-write never leaves a half-written state file.
        os.replace(tmp, self.path)
