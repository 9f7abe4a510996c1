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
