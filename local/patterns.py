"""Event patterns (EventBridge rules and Lambda event filters share the syntax), for the local bus and poller.

The subset the template uses and a little more: exact values, ``prefix``, ``anything-but`` and ``exists``.
An operator the matcher does not know raises, so a template change cannot silently match nothing locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def _value_matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return value is not _MISSING and rule == value
    ((op, arg),) = rule.items()
    if op == "exists":
        return (value is not _MISSING) == bool(arg)
    if value is _MISSING:
        return False
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "anything-but":
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    raise ValueError(f"event pattern operator {op!r} is not supported locally")


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True when ``event`` (a JSON-like dict) matches ``pattern``: every field, each against one of its rules."""
    if not isinstance(event, dict):
        return False
    for key, rule in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(rule, dict):
            if not matches(rule, value):
                return False
            continue
        if not isinstance(rule, list):
            raise ValueError(f"pattern field {key!r} must be a list of rules or a nested pattern")
        candidates = value if isinstance(value, list) else [value]
        if not any(_value_matches(r, v) for r in rule for v in candidates):
            return False
    return True


def matches_any(patterns: tuple[Mapping[str, Any], ...] | list[Mapping[str, Any]], event: Any) -> bool:
    """Lambda's FilterCriteria: a record passes when any filter matches (no filters = everything passes)."""
    return not patterns or any(matches(p, event) for p in patterns)
