"""Stripe's form encoding and parameter checks: the wire carries strings only, so every value is coerced here.

Each helper raises the error Stripe gives for that mistake (``parameter_unknown``, ``parameter_missing``,
``parameter_invalid_integer``, ...), naming the parameter the way Stripe does (``line_items[0][price]``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from local.stripe_sim.errors import JsonDict, StripeApiError, invalid

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY_RE = re.compile(r"\[([^\[\]]*)\]")
# Free-form maps whose keys may look like indexes but are never lists.
_MAPS = frozenset({"metadata"})


def parse_form(text: str) -> JsonDict:
    """Decode Stripe's form encoding (``a[b][0][c]=v``, ``k[]=v``) into nested dicts and lists of strings."""
    root: JsonDict = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        match = _KEY_RE.match(key)
        if match is None:
            raise StripeApiError(400, f"Invalid parameter name: {key}", code="parameter_unknown", param=key)
        parts = [match.group(1), *_SUBKEY_RE.findall(match.group(2))]
        node = root
        for part in parts[:-1]:
            # "k[]" appends, so the next free index is the current size of the container.
            name = part if part != "" else str(len(node))
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid parameter: {key}", key)
            node = child
        last = parts[-1] if parts[-1] != "" else str(len(node))
        if isinstance(node.get(last), dict):
            raise invalid(f"Invalid parameter: {key}", key)
        node[last] = value
    listified = _listify(root, parent="")
    assert isinstance(listified, dict)
    return listified


def _listify(value: Any, *, parent: str) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v, parent=k) for k, v in value.items()}
    if parent not in _MAPS and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def check_keys(params: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    known = set(allowed)
    for key in params:
        if key not in known and key != "expand":
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def int_param(
    params: Mapping[str, Any], key: str, *, name: str | None = None, minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(key)
    label = name or key
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label)
    try:
        value = int(raw)
    except ValueError:
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label) from None
    if minimum is not None and value < minimum:
        raise StripeApiError(
            400, f"Invalid {label}: must be at least {minimum}", code="parameter_invalid_integer", param=label
        )
    if maximum is not None and value > maximum:
        raise StripeApiError(
            400, f"Invalid {label}: must be at most {maximum}", code="parameter_invalid_integer", param=label
        )
    return value


def bool_param(params: Mapping[str, Any], key: str, *, name: str | None = None) -> bool | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if raw in ("true", True):
        return True
    if raw in ("false", False):
        return False
    raise StripeApiError(400, f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name or key)


def str_param(params: Mapping[str, Any], key: str, *, name: str | None = None, max_len: int = 5000) -> str | None:
    raw = params.get(key)
    label = name or key
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise StripeApiError(400, f"Invalid string: {label}", code="parameter_invalid_string", param=label)
    if len(raw) > max_len:
        raise StripeApiError(
            400,
            f"Invalid {label}: must be at most {max_len} characters",
            code="parameter_invalid_string_too_long",
            param=label,
        )
    return raw


def enum_param(
    params: Mapping[str, Any], key: str, choices: Iterable[str], *, name: str | None = None
) -> str | None:
    """A string that must be one of ``choices``; Stripe lists them in its message."""
    value = str_param(params, key, name=name)
    options = sorted(choices)
    if value is not None and value not in options:
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise invalid(f"Invalid {name or key}: must be one of {listed}", name or key)
    return value


def required(value: Any, name: str) -> Any:
    if value is None:
        raise StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def dict_param(params: Mapping[str, Any], key: str, *, name: str | None = None) -> JsonDict:
    raw = params.get(key)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"Invalid object: {name or key}", name or key)
    return raw


def list_param(params: Mapping[str, Any], key: str, *, name: str | None = None) -> list[Any]:
    raw = params.get(key)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list):
        raise invalid(f"Invalid array: {name or key}", name or key)
    return raw


def metadata(raw: Any, name: str = "metadata") -> dict[str, str]:
    """Validate metadata as Stripe does (50 keys, 40-char keys, 500-char values); empty values are dropped."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"Invalid {name}: must be an object", name)
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid {name}[{key}]: must be a string", f"{name}[{key}]")
        if len(key) > 40:
            raise invalid(f"Metadata keys can have up to 40 characters ({key!r})", name)
        if len(value) > 500:
            raise invalid(f"Metadata values can have up to 500 characters ({key!r})", f"{name}[{key}]")
        if value != "":
            out[key] = value
    if len(out) > 50:
        raise invalid("Metadata can have up to 50 keys", name)
    return out


def merge_metadata(current: dict[str, str], raw: Any) -> dict[str, str]:
    """Stripe's update semantics: ``metadata=`` clears all, ``metadata[k]=`` unsets one key."""
    if raw == "":
        return {}
    if raw is None:
        return current
    merged = dict(current)
    if isinstance(raw, dict):
        for key, value in raw.items():
            if value == "":
                merged.pop(key, None)
    merged.update(metadata(raw))
    return metadata(merged)


def created_filter(params: Mapping[str, Any], key: str = "created") -> Callable[[int], bool]:
    """``created=5`` or ``created[gt|gte|lt|lte]=5`` as a predicate over a unix timestamp."""
    raw = params.get(key)
    if raw is None or raw == "":
        return lambda _created: True
    if isinstance(raw, str):
        exact = int_param(params, key)
        return lambda created: created == exact
    if not isinstance(raw, dict):
        raise invalid(f"Invalid {key} filter", key)
    check_keys(raw, {"gt", "gte", "lt", "lte"}, key)
    bounds = {op: int_param(raw, op, name=f"{key}[{op}]") for op in ("gt", "gte", "lt", "lte")}

    def accept(created: int) -> bool:
        return not (
            (bounds["gt"] is not None and created <= bounds["gt"])
            or (bounds["gte"] is not None and created < bounds["gte"])
            or (bounds["lt"] is not None and created >= bounds["lt"])
            or (bounds["lte"] is not None and created > bounds["lte"])
        )

    return accept
