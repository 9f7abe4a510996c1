"""Validate Stripe traffic against the pinned schemas (``stripe-2026-05-27.dahlia.json``) with ``jsonschema``.

Stripe's spec is OpenAPI 3.0; this module converts it to JSON Schema 2020-12:

- ``nullable: true`` becomes a ``"null"`` type (and ``None`` in an ``enum``, or a ``{"type": "null"}`` branch);
- ``$ref: #/components/schemas/x`` becomes ``#/$defs/x``; ``x-*`` keys are dropped;
- response objects that list their ``properties`` are closed (``additionalProperties: false``), so a field
  Stripe does not document is a violation;
- request schemas describe form-encoded values, which are all strings on the wire: integers, numbers and
  booleans must be strings of that form, arrays are ``a[0]=..``-style maps, and every object is closed, so an
  unknown parameter or a wrong enum value is a violation.

Each ``check_*`` returns a list of violations (strings); empty means valid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

PINNED = Path(__file__).resolve().parent / "stripe-2026-05-27.dahlia.json"
Schema = dict[str, Any]

_INT = r"^-?[0-9]+$"
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_INDEX = r"^(0|[1-9][0-9]*)$"
_REF = "#/components/schemas/"
# Event types and the object their data carries (prefix match, longest first).
_EVENT_OBJECTS = (
    ("checkout.session.", "checkout.session"),
    ("charge.dispute.", "dispute"),
    ("charge.refund.", "refund"),
    ("charge.", "charge"),
    ("customer.", "customer"),
    ("payment_intent.", "payment_intent"),
    ("payment_method.", "payment_method"),
    ("refund.", "refund"),
)


def convert(node: Any, *, request: bool) -> Any:
    """One OpenAPI 3.0 schema node as JSON Schema 2020-12 (see the module docstring)."""
    if isinstance(node, list):
        return [convert(v, request=request) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": "#/$defs/" + node["$ref"].removeprefix(_REF)}
    out: Schema = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("nullable", "format", "style", "explode"):
            continue
        if key == "properties":
            out[key] = {k: convert(v, request=request) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not"):
            out[key] = convert(value, request=request)
        else:
            out[key] = value
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if request:
        out = _as_form(out)
    if node.get("nullable"):
        out = _nullable(out)
    return out


def _as_form(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind == "integer":
        return {**_without(schema, "type", "enum"), "type": "string", "pattern": _INT, **_str_enum(schema)}
    if kind == "number":
        return {**_without(schema, "type", "enum"), "type": "string", "pattern": _NUMBER, **_str_enum(schema)}
    if kind == "boolean":
        return {**_without(schema, "type", "enum"), "type": "string", "enum": ["true", "false"]}
    if kind == "array":
        items = schema.get("items", {})
        return {"type": "object", "propertyNames": {"pattern": _INDEX}, "additionalProperties": items}
    return schema


def _without(schema: Schema, *keys: str) -> Schema:
    return {k: v for k, v in schema.items() if k not in keys}


def _str_enum(schema: Schema) -> Schema:
    return {"enum": [str(v) for v in schema["enum"]]} if "enum" in schema else {}


def _nullable(schema: Schema) -> Schema:
    if "type" in schema:
        kind = schema["type"]
        schema = {**schema, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return {**schema, key: [*schema[key], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def decode_form(text: str) -> tuple[dict[str, Any], list[str]]:
    """Form text as nested maps of strings (``a[b][0]=v`` -> ``{"a": {"b": {"0": "v"}}}``; ``k[]`` appends)."""
    root: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            problems.append(f"malformed parameter name {key!r}")
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part if part else str(len(node)), {})
            if not isinstance(child, dict):
                problems.append(f"parameter {key!r} nests under a value")
                break
            node = child
        else:
            last = parts[-1] if parts[-1] else str(len(node))
            if last in node:
                problems.append(f"parameter {key!r} given twice")
            node[last] = value
    return root, problems


class StripeSchemas:
    """The pinned spec, converted once; validators for responses, events and requests."""

    def __init__(self, path: Path = PINNED) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = self.doc["info"]["version"]
        self.event_types: frozenset[str] = frozenset(self.doc["event_types"])
        self.operations: dict[str, Any] = self.doc["operations"]
        self._patterns = [
            (key, re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(key.split(" ", 1)[1])) + "$"))
            for key in self.operations
        ]

    @cached_property
    def _response_defs(self) -> Schema:
        return {k: convert(v, request=False) for k, v in self.doc["components"]["schemas"].items()}

    def _validate(self, schema: Any, instance: Any, where: str, *, request: bool = False) -> list[str]:
        defs = {} if request else self._response_defs
        validator = Draft202012Validator({"$defs": defs, **convert(schema, request=request)})
        out = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            path = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
            out.append(f"{where}: {path or '(root)'}: {error.message[:400]}")
        return out

    def operation(self, method: str, path: str) -> str | None:
        """The spec's operation key (``"GET /v1/refunds/{refund}"``) for a concrete request path."""
        for key, pattern in self._patterns:
            if key.startswith(method.upper() + " ") and pattern.match(path):
                return key
        return None

    # --- responses and objects

    def check_object(self, obj: Any, where: str = "object") -> list[str]:
        """An API object validated against the component schema its ``object`` field names."""
        if not isinstance(obj, dict) or "object" not in obj:
            return [f"{where}: not a Stripe object"]
        name = obj["object"]
        if obj.get("deleted") is True:
            name = f"deleted_{name}"
        if name not in self.doc["components"]["schemas"]:
            return [f"{where}: no schema for object {name!r} in the pinned spec"]
        return self._validate({"$ref": _REF + name}, obj, f"{where} ({name})")

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        where = f"{method} {path} -> {status}"
        key = self.operation(method, path)
        if key is None:
            # Not an operation we use: the only acceptable answer is a Stripe error.
            problems = [] if status >= 400 else [f"{where}: no such operation in the pinned spec"]
            return problems + self._validate({"$ref": _REF + "error"}, body, where)
        responses = self.operations[key]["responses"]
        schema = responses["200"] if status == 200 else responses["default"]
        return self._validate(schema, body, where)

    # --- events

    def check_event(self, event: Any, where: str = "event") -> list[str]:
        problems = self._validate({"$ref": _REF + "event"}, event, where)
        if problems or not isinstance(event, dict):
            return problems
        where = f"{where} {event['type']} {event['id']}"
        if event["type"] not in self.event_types:
            problems.append(f"{where}: {event['type']!r} is not an event type Stripe publishes")
        if event.get("api_version") != self.version:
            problems.append(f"{where}: api_version {event.get('api_version')!r}, expected {self.version!r}")
        obj = event["data"]["object"]
        expected = next((o for prefix, o in _EVENT_OBJECTS if event["type"].startswith(prefix)), None)
        if expected is not None and obj.get("object") != expected:
            problems.append(f"{where}: carries a {obj.get('object')!r}, expected a {expected!r}")
        problems += self.check_object(obj, f"{where} data.object")
        problems += self._check_previous(obj, event["data"].get("previous_attributes"), where)
        return problems

    def _check_previous(self, obj: dict[str, Any], previous: Any, where: str) -> list[str]:
        """previous_attributes names fields of the object; scalar old values must fit the field's schema."""
        if previous is None:
            return []
        schema = self.doc["components"]["schemas"].get(obj.get("object", ""), {})
        props = schema.get("properties", {})
        problems = []
        for key, value in previous.items():
            if key not in props:
                problems.append(f"{where}: previous_attributes[{key!r}] is not a field of {obj['object']}")
            elif not isinstance(value, dict):
                problems += self._validate(props[key], value, f"{where} previous_attributes[{key!r}]")
        return problems

    def check_signature(self, payload: bytes, header: str, secret: str, where: str = "delivery") -> list[str]:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if set(parts) != {"t", "v1"} or not parts["t"].isdigit():
            return [f"{where}: Stripe-Signature {header!r} is not t=<unix>,v1=<hex>"]
        expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + payload, hashlib.sha256).hexdigest()
        return [] if hmac.compare_digest(expected, parts["v1"]) else [f"{where}: signature does not verify"]

    # --- requests

    def check_request(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> list[str]:
        """A request as received (raw query and form body) against its operation's parameters and body schema."""
        where = f"request {method} {path}"
        key = self.operation(method, path)
        if key is None:
            return [f"{where}: no such operation in the pinned spec"]
        op = self.operations[key]
        problems: list[str] = []
        version = headers.get("stripe-version")
        if version != self.version:
            problems.append(f"{where}: Stripe-Version {version!r}, expected {self.version!r}")
        query_params, bad = decode_form(query)
        problems += [f"{where}: {b}" for b in bad]
        spec_query = [p for p in op["parameters"] if p["in"] == "query"]
        query_schema: Schema = {
            "type": "object",
            "properties": {p["name"]: p["schema"] for p in spec_query},
            "required": [p["name"] for p in spec_query if p.get("required")],
        }
        problems += self._validate(query_schema, query_params, f"{where} query", request=True)
        if method.upper() == "POST":
            if body and "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
                problems.append(f"{where}: body is not application/x-www-form-urlencoded")
            form, bad = decode_form(body)
            problems += [f"{where}: {b}" for b in bad]
            schema = op["requestBody"] or {"type": "object", "properties": {}}
            problems += self._validate(schema, form, f"{where} body", request=True)
        elif body:
            problems.append(f"{where}: a {method} request has a body")
        return problems

    def check_received(self, requests: list[dict[str, Any]]) -> list[str]:
        """Every entry of ``StripeSimulator.requests_received()``."""
        problems: list[str] = []
        for r in requests:
            problems += self.check_request(r["method"], r["path"], r["query"], r["body"], r["headers"])
        return problems
