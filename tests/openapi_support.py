"""The OpenAPI document, loaded once, and $ref resolution: shared by the spec tests and the handler tests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from local.template import ROOT

SPEC = ROOT / "openapi.yaml"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema(name: str) -> dict[str, Any]:
    return spec()["components"]["schemas"][name]  # type: ignore[no-any-return]


def flat_properties(node: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """(properties, required) of an object schema, merging its ``allOf`` parts (later parts refine earlier ones)."""
    node = resolve(node)
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for part in node.get("allOf", []):
        props, req = flat_properties(part)
        for name, prop in props.items():
            properties[name] = {**properties.get(name, {}), **resolve(prop)}
        required |= req
    for name, prop in node.get("properties", {}).items():
        properties[name] = {**properties.get(name, {}), **resolve(prop)}
    required |= set(node.get("required", []))
    return properties, required
