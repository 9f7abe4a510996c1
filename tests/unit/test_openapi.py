"""openapi.yaml is a valid OpenAPI document that describes exactly the HTTP routes template.yaml declares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local.template import http_routes
from tests.openapi_support import SPEC, flat_properties, resolve, schema, spec

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTH_TO_SECURITY = {"jwt": "bearerAuth", "none": None, "iam": "sigv4"}
# Statuses the contract names for a route (the spec may document more).
CONTRACT_STATUSES = {
    ("GET", "/health"): {"200"},
    ("GET", "/credits/bundles"): {"200"},
    ("GET", "/credits/features"): {"200"},
    ("GET", "/credits/balance"): {"200", "401"},
    ("GET", "/credits/history"): {"200", "400", "401"},
    ("GET", "/credits/grants"): {"200", "400", "401"},
    ("POST", "/credits/consume"): {"200", "400", "401", "402", "409", "413"},
    ("POST", "/credits/holds"): {"201", "200", "400", "401", "402", "409", "413"},
    ("POST", "/credits/holds/{hold_id}/capture"): {"200", "400", "401", "404", "409"},
    ("POST", "/credits/holds/{hold_id}/release"): {"200", "401", "404", "409"},
    ("GET", "/credits/holds/{hold_id}"): {"200", "401", "404"},
    ("POST", "/credits/purchase"): {"200", "400", "401", "409", "502"},
    ("GET", "/credits/purchases/{session_id}"): {"200", "401", "404"},
    ("POST", "/webhooks/stripe"): {"200", "400", "500", "503"},
    ("POST", "/internal/credits/consume"): {"200", "400", "402", "403", "409"},
    ("GET", "/credits/settings"): {"200", "401"},
    ("PUT", "/credits/settings"): {"200", "400", "401", "409", "413"},
    ("GET", "/credits/usage"): {"200", "400", "401"},
    ("POST", "/internal/credits/grants"): {"201", "200", "400", "403", "409"},
    ("POST", "/internal/credits/grants/{grant_id}/void"): {"200", "400", "403", "404", "409"},
}
# Error codes the contract names for a route and status (the spec must list each in that response's `code` enum).
CONTRACT_CODES = {
    ("POST", "/credits/consume", "400"): {"invalid_request", "unknown_feature"},
    ("POST", "/credits/consume", "402"): {"insufficient_credits"},
    ("POST", "/credits/consume", "409"): {"idempotency_key_reused"},
    ("POST", "/credits/holds", "402"): {"insufficient_credits"},
    ("POST", "/credits/holds", "409"): {"idempotency_key_reused"},
    ("POST", "/credits/holds/{hold_id}/capture", "409"): {"hold_not_pending", "hold_expired", "idempotency_key_reused"},
    ("POST", "/credits/holds/{hold_id}/release", "409"): {"hold_not_pending", "hold_expired", "idempotency_key_reused"},
    ("POST", "/credits/purchase", "400"): {"invalid_request", "unknown_bundle"},
    ("GET", "/credits/history", "400"): {"invalid_request"},
    ("GET", "/credits/grants", "400"): {"invalid_request"},
    ("POST", "/internal/credits/consume", "400"): {"invalid_request", "unknown_feature"},
    ("POST", "/internal/credits/grants", "400"): {"invalid_request"},
    ("POST", "/internal/credits/grants", "409"): {"idempotency_key_reused"},
    ("POST", "/internal/credits/grants/{grant_id}/void", "409"): {"grant_not_active", "idempotency_key_reused"},
    ("POST", "/internal/credits/grants/{grant_id}/void", "404"): {"not_found"},
}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in spec()["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_spec_is_a_valid_openapi_document():
    from openapi_spec_validator import validate

    validate(spec())  # raises with the offending location on any error


def test_schemathesis_loads_every_operation():
    import schemathesis

    schema = schemathesis.openapi.from_path(str(SPEC))
    loaded = set()
    for result in schema.get_all_operations():
        operation = result.ok()  # an unusable operation (bad $ref, bad schema) raises here
        loaded.add((operation.method.upper(), operation.path))
    assert loaded == set(operations())


def test_spec_routes_are_exactly_the_template_routes():
    declared = {(r.method, r.path) for r in http_routes()}
    documented = set(operations())
    assert documented == declared, {"missing from openapi.yaml": declared - documented,
                                    "not in template.yaml": documented - declared}


def test_security_matches_each_routes_authorizer():
    global_security = spec().get("security", [])
    for route in http_routes():
        op = operations()[(route.method, route.path)]
        security = op.get("security", global_security)
        names = {name for requirement in security for name in requirement}
        expected = AUTH_TO_SECURITY[route.auth]
        assert names == ({expected} if expected else set()), (route.route_key, names)


def test_every_status_the_contract_names_is_documented():
    assert set(CONTRACT_STATUSES) == set(operations()), "update CONTRACT_STATUSES with the new route"
    for key, statuses in CONTRACT_STATUSES.items():
        documented = set(operations()[key]["responses"])
        assert statuses <= documented, (key, statuses - documented)


def test_errors_use_the_envelope_and_json_everywhere():
    for key, op in operations().items():
        for status, response in op["responses"].items():
            content = resolve(response).get("content")
            assert content and list(content) == ["application/json"], (key, status)
            if int(status) >= 400:
                schema = content["application/json"]["schema"]
                refs = [schema.get("$ref")] + [s.get("$ref") for s in resolve(schema).get("allOf", [])]
                assert any(r and r.endswith(("/Error", "/InsufficientCreditsError")) for r in refs), (key, status)


def test_authenticated_routes_document_401_and_bodies_document_400_and_413():
    for route in http_routes():
        op = operations()[(route.method, route.path)]
        if route.auth == "jwt":
            assert "401" in op["responses"], route.route_key
        if "requestBody" in op:
            assert {"400", "413"} <= set(op["responses"]), route.route_key


@pytest.mark.parametrize(
    ("schema_name", "field", "bounds"),
    [
        ("ConsumeRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("ConsumeRequest", "quantity", {"minimum": 1, "maximum": 1_000_000_000, "default": 1}),
        ("ConsumeRequest", "description", {"maxLength": 200}),
        ("ConsumeRequest", "return_balance", {"type": "boolean", "default": False}),
        ("HoldRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("HoldRequest", "ttl_seconds", {"minimum": 1, "maximum": 86_400, "default": 300}),
        ("HoldRequest", "description", {"maxLength": 200}),
        ("CaptureRequest", "amount", {"minimum": 0, "maximum": 1_000_000_000}),
        ("InternalConsumeRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("InternalConsumeRequest", "quantity", {"minimum": 1, "maximum": 1_000_000_000, "default": 1}),
        ("InternalConsumeRequest", "description", {"maxLength": 200}),
        ("InternalConsumeRequest", "user_id", {"minLength": 1, "maxLength": 256}),
        ("InternalGrantRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("InternalGrantRequest", "priority", {"minimum": 0, "maximum": 100, "default": 50}),
        ("InternalGrantRequest", "category", {"enum": ["promotional", "paid"], "default": "promotional"}),
        ("InternalGrantRequest", "expires_in_days", {"minimum": 1, "maximum": 3650}),
        ("InternalGrantRequest", "description", {"maxLength": 200}),
        ("VoidRequest", "reason", {"minLength": 1, "maxLength": 200}),
        ("PurchaseRequest", "save_payment_method", {"type": "boolean", "default": False}),
    ],
)
def test_request_bodies_are_strict_and_bounded(schema_name, field, bounds):
    body = schema(schema_name)
    assert body["additionalProperties"] is False
    prop = resolve(body["properties"][field])
    assert {k: prop.get(k) for k in bounds} == bounds


REQUEST_MODELS = {
    "ConsumeRequest": "ConsumeRequest",
    "HoldRequest": "HoldRequest",
    "CaptureRequest": "CaptureRequest",
    "ReleaseRequest": "ReleaseRequest",
    "PurchaseRequest": "PurchaseRequest",
    "InternalConsumeRequest": "InternalConsumeRequest",
    "InternalGrantRequest": "InternalGrantRequest",
    "VoidRequest": "VoidRequest",
    "SettingsPatch": "credits.events.requests.SettingsPatch",
}
# Constraints the spec states and the model leaves to the domain (which answers a 4xx for them as well).
SPEC_ONLY = {
    ("PurchaseRequest", "bundle", "maxLength"),  # a longer id is no catalog bundle: 400 unknown_bundle
}
_BOUNDS = {"ge": "minimum", "le": "maximum", "min_length": "minLength", "max_length": "maxLength"}


def _model_constraints(info: Any) -> dict[str, Any]:
    """minimum/maximum/minLength/maxLength/enum/default of a pydantic field, in OpenAPI's words."""
    import typing

    out: dict[str, Any] = {}
    for meta in info.metadata:
        for attr, keyword in _BOUNDS.items():
            if getattr(meta, attr, None) is not None:
                out[keyword] = getattr(meta, attr)
    options = [info.annotation, *typing.get_args(info.annotation)]  # Literal[...] itself, or inside X | None
    literals = [a for a in options if typing.get_origin(a) is typing.Literal]
    if literals:
        out["enum"] = list(typing.get_args(literals[0]))
    if not info.is_required() and info.default not in (None, ""):
        out["default"] = info.default
    return out


def _spec_constraints(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: prop[k] for k in ("minimum", "maximum", "minLength", "maxLength", "enum", "default") if k in prop}


@pytest.mark.parametrize("name", sorted(REQUEST_MODELS))
def test_request_models_agree_with_the_spec(name):
    """The pydantic model a handler validates with and the spec's request schema: same fields, same required ones,
    same bounds, enums and defaults (so neither can drift from the other)."""
    from credits import api
    from credits.events.requests import SettingsPatch

    model = SettingsPatch if name == "SettingsPatch" else getattr(api, REQUEST_MODELS[name])
    body = schema(name)
    assert body["additionalProperties"] is False, name
    assert set(body.get("properties", {})) == set(model.model_fields), name
    required = {f for f, info in model.model_fields.items() if info.is_required()}
    assert set(body.get("required", [])) == required, name
    for field, info in model.model_fields.items():
        documented = _spec_constraints(resolve(body["properties"][field]))
        for key in [k for k in documented if (name, field, k) in SPEC_ONLY]:
            documented.pop(key)
        implemented = _model_constraints(info)
        if field == "quantity":  # the model's None means "not given"; the default of 1 is applied by the ledger
            documented.pop("default", None)
        assert documented == implemented, (name, field)


@pytest.mark.parametrize(("path", "model_name"), [("/credits/history", "HistoryQuery"),
                                                  ("/credits/grants", "GrantsQuery")])
def test_query_models_agree_with_the_spec(path, model_name):
    from credits import api

    model = getattr(api, model_name)
    params = {p["name"]: resolve(p) for p in (resolve(p) for p in operations()[("GET", path)]["parameters"])}
    assert set(params) == set(model.model_fields), path
    for field, info in model.model_fields.items():
        assert params[field]["in"] == "query" and params[field]["required"] is False, field
        assert _spec_constraints(resolve(params[field]["schema"])) == _model_constraints(info), (path, field)


def test_consume_bodies_take_exactly_one_of_amount_and_feature():
    """The spec's rule for a consume body is the model's rule: checked on both with the same bodies."""
    from jsonschema import Draft4Validator
    from pydantic import ValidationError

    from credits import api

    cases = [
        ({"amount": 5}, True),
        ({"feature": "image.render"}, True),
        ({"feature": "image.render", "quantity": 3, "return_balance": True}, True),
        ({}, False),
        ({"amount": 5, "feature": "image.render"}, False),
        ({"amount": 5, "quantity": 2}, False),
        ({"quantity": 2}, False),
        ({"amount": 5, "return_balance": "yes"}, False),
    ]
    for name, extra in (("ConsumeRequest", {}), ("InternalConsumeRequest", {"user_id": "u-1"})):
        validator = Draft4Validator({**schema(name), "components": spec()["components"]})
        model = getattr(api, name)
        for body, valid in cases:
            assert validator.is_valid({**body, **extra}) is valid, (name, body)
            try:
                model.model_validate({**body, **extra}, strict=True)
                accepted = True
            except ValidationError:
                accepted = False
            assert accepted is valid, (name, body)


def test_grant_bodies_take_at_most_one_expiry():
    from jsonschema import Draft4Validator

    validator = Draft4Validator({**schema("InternalGrantRequest"), "components": spec()["components"]})
    base = {"user_id": "u-1", "amount": 5}
    assert validator.is_valid(base)
    assert validator.is_valid({**base, "expires_in_days": 30})
    assert validator.is_valid({**base, "expires_at": "2030-01-01T00:00:00Z"})
    assert not validator.is_valid({**base, "expires_in_days": 30, "expires_at": "2030-01-01T00:00:00Z"})


def test_entry_types_are_the_ledgers():
    from credits.models import ENTRY_TYPES

    assert schema("EntryType")["enum"] == list(ENTRY_TYPES)


def _sample_models() -> dict[str, dict[str, Any]]:
    """What the domain's response records serialise to, with every optional field filled in."""
    from credits.catalog import load_catalog
    from credits.models import Balance, ConsumeResult, Entry, Expiring, Grant, Hold, HoldResolved, Purchase

    t = "2026-01-01T00:00:00.000Z"
    grant = Grant("gr_1", "paid", "purchase", 10, 10, 50, t, t, "active", "d", "cs_1", 0, 0, 0, 0, 0, 0, 0)
    balance = Balance("u", 5, 1, t, Expiring(5, t))
    hold = Hold("hold_1", "u", 5, "captured", t, 1, t, "d", 2, 3, t)
    entry = Entry("tx_1", "usage", -5, "d", t, "cs_1", "gr_1", "image.render", 1,
                  extra={"hold_id": "hold_1", "session_id": "cs_1", "payment_intent": "pi_1",
                         "total_clawed_back": 1})
    consumed = ConsumeResult("tx_1", 5, False, "image.render", 1, balance, True)
    captured = HoldResolved("hold_1", "captured", 2, 3, balance, "tx_1")
    released = HoldResolved("hold_1", "released", 0, 5, balance)
    purchase = Purchase("cs_1", "u", "standard", 2000, 1990, "usd", "fulfilled", t, t, "pi_1", 0, 0, None, "gr_1")
    catalog = load_catalog()
    return {
        "Grant": grant.to_dict(),
        "Balance": balance.to_dict(),
        "Hold": hold.to_dict(),
        "Entry": entry.to_dict(),
        "ConsumeResult": consumed.to_dict(),
        "HoldCaptured": captured.to_dict(),
        "HoldReleased": released.to_dict(),
        "Purchase": purchase.to_dict(),
        "Bundle": catalog.bundles[0].public(),
        "Feature": catalog.features[0].public(),
    }


@pytest.mark.parametrize("name", sorted(["Grant", "Balance", "Hold", "Entry", "ConsumeResult", "HoldCaptured",
                                         "HoldReleased", "Purchase", "Bundle", "Feature"]))
def test_every_field_the_domain_answers_is_documented(name):
    from openapi_schema_validator import OAS30Validator

    sample = _sample_models()[name]
    properties, _ = flat_properties(schema(name))
    assert set(sample) <= set(properties), (name, set(sample) - set(properties))
    validator = OAS30Validator({**schema(name), "components": spec()["components"]})
    assert not [e.message for e in validator.iter_errors(sample)], name


def test_grant_schema_lists_every_grant_field_as_required():
    from dataclasses import fields

    from credits.models import Grant

    properties, required = flat_properties(schema("Grant"))
    assert set(properties) == required == {f.name for f in fields(Grant)}


def test_error_codes_the_contract_names_are_documented():
    for (method, path, status), codes in CONTRACT_CODES.items():
        response = resolve(operations()[(method, path)]["responses"][status])
        documented = _documented_codes(response["content"]["application/json"]["schema"])
        assert codes <= documented, (method, path, status, codes - documented)


def _documented_codes(node: dict[str, Any]) -> set[str]:
    properties, _ = flat_properties(node)
    error, _ = flat_properties(properties.get("error", {})) if "error" in properties else ({}, set())
    return set(error.get("code", {}).get("enum", []))


def test_every_documented_error_code_exists():
    """No invented codes: each code in the spec is one the service answers (a domain error, or the front door's)."""
    from credits import errors

    known = {cls.code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.CreditsError)}
    known |= {"forbidden"}  # answered for unsigned internal requests (API Gateway deployed, local/server.py locally)
    for key, op in operations().items():
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            codes = _documented_codes(resolve(response)["content"]["application/json"]["schema"])
            assert codes, (key, status, "name the error codes of this response")
            assert codes <= known, (key, status, codes - known)


def _header_params(key: tuple[str, str]) -> dict[str, dict[str, Any]]:
    params = [resolve(p) for p in operations()[key].get("parameters", [])]
    return {p["name"]: p for p in params if p["in"] == "header"}


def test_idempotency_key_header_is_bounded_and_on_every_operation_that_takes_one():
    header = spec()["components"]["parameters"]["IdempotencyKey"]
    assert (header["in"], header["required"]) == ("header", False)
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)
    optional = [("POST", "/credits/consume"), ("POST", "/credits/holds"), ("POST", "/credits/holds/{hold_id}/capture"),
                ("POST", "/credits/holds/{hold_id}/release"), ("POST", "/credits/purchase"),
                ("POST", "/internal/credits/consume"), ("POST", "/internal/credits/grants/{grant_id}/void")]
    for key in optional:
        param = _header_params(key).get("Idempotency-Key")
        assert param is not None and param["required"] is False, key
        assert (param["schema"]["minLength"], param["schema"]["maxLength"]) == (1, 255), key
    required = _header_params(("POST", "/internal/credits/grants"))["Idempotency-Key"]
    assert required["required"] is True and required["schema"]["maxLength"] == 255
    taking = {key for key in operations() if "Idempotency-Key" in _header_params(key)}
    assert taking == set(optional) | {("POST", "/internal/credits/grants")}


def test_replays_are_documented_with_replayed():
    """Every answer that can be a replay carries `replayed`, and the hold and grant creations document their 200."""
    for key, status in [(("POST", "/credits/consume"), "200"), (("POST", "/credits/holds"), "200"),
                        (("POST", "/credits/holds"), "201"), (("POST", "/credits/holds/{hold_id}/capture"), "200"),
                        (("POST", "/credits/holds/{hold_id}/release"), "200"),
                        (("POST", "/internal/credits/consume"), "200"), (("POST", "/internal/credits/grants"), "200"),
                        (("POST", "/internal/credits/grants"), "201"),
                        (("POST", "/internal/credits/grants/{grant_id}/void"), "200")]:
        media = resolve(operations()[key]["responses"][status])["content"]["application/json"]
        _, required = flat_properties(media["schema"])
        assert "replayed" in required, (key, status)


def _nullable_fields(node: dict[str, Any]) -> set[str]:
    properties, _ = flat_properties(node)
    return {name for name, prop in properties.items() if prop.get("nullable")}


@pytest.mark.parametrize("name", sorted(REQUEST_MODELS))
def test_request_models_refuse_null_where_the_spec_does(name):
    """A field the spec does not mark nullable must be a 400 when sent as null (the contract: a wrong type is a 400),
    not be taken as "left out"; and a field the spec marks nullable must be accepted as null."""
    from pydantic import ValidationError

    from credits import api
    from credits.events.requests import SettingsPatch

    model = SettingsPatch if name == "SettingsPatch" else getattr(api, REQUEST_MODELS[name])
    valid = {  # a minimal valid body of each model, to which one null field is added
        "ConsumeRequest": {"feature": "image.render"}, "InternalConsumeRequest": {"user_id": "u", "feature": "x"},
        "HoldRequest": {"amount": 1}, "CaptureRequest": {}, "ReleaseRequest": {}, "PurchaseRequest": {"bundle": "b"},
        "InternalGrantRequest": {"user_id": "u", "amount": 1}, "VoidRequest": {"user_id": "u", "reason": "r"},
        "SettingsPatch": {},
    }[name]
    model.model_validate(valid, strict=True)
    nullable = _nullable_fields(schema(name))
    accepted_null = set()
    for field in model.model_fields:
        if field in valid:
            continue
        try:
            model.model_validate({**valid, field: None}, strict=True)
            accepted_null.add(field)
        except ValidationError:
            pass
    assert accepted_null == nullable, f"{name}: the model takes null for {sorted(accepted_null - nullable)}"


def test_api_reference_names_every_route_and_error_code():
    """docs/api.md is the spec's human-readable twin: every route of the template and every error code of the spec
    appear in it, and it stands on its own (no link outside the repository)."""
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for route in http_routes():
        assert re.search(rf"`{route.method} {re.escape(route.path)}[`?]", doc), f"docs/api.md lacks {route.route_key}"
    codes = set()
    for op in operations().values():
        for status, response in op["responses"].items():
            if int(status) >= 400:
                codes |= _documented_codes(resolve(response)["content"]["application/json"]["schema"])
    assert {code for code in codes if f"`{code}`" not in doc} == set()
    assert "openapi.yaml" in doc
    # The repository documents its own API: no page may send a reader to a working spec outside it. The names are
    # assembled so that this guard is not itself such a reference.
    outside = ("/".join(("..", "shared")), "-".join(("api", "contract")))
    for page in [ROOT / "README.md", ROOT / "openapi.yaml", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        assert not [name for name in outside if name in text], f"{page.name} points outside the repository"
