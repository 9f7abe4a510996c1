"""openapi.yaml is a valid OpenAPI document that describes exactly the HTTP routes template.yaml declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.template import http_routes
from tests.openapi_support import SPEC, resolve, spec

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTH_TO_SECURITY = {"jwt": "bearerAuth", "none": None, "iam": "sigv4"}
# Statuses the contract names for a route (the spec may document more).
CONTRACT_STATUSES = {
    ("GET", "/health"): {"200"},
    ("GET", "/credits/bundles"): {"200"},
    ("GET", "/credits/balance"): {"200", "401"},
    ("GET", "/credits/history"): {"200", "400", "401"},
    ("POST", "/credits/consume"): {"200", "400", "401", "402", "409", "413"},
    ("POST", "/credits/holds"): {"201", "400", "401", "402", "413"},
    ("POST", "/credits/holds/{hold_id}/capture"): {"200", "400", "401", "404", "409"},
    ("POST", "/credits/holds/{hold_id}/release"): {"200", "401", "404", "409"},
    ("GET", "/credits/holds/{hold_id}"): {"200", "401", "404"},
    ("POST", "/credits/purchase"): {"200", "400", "401", "502"},
    ("GET", "/credits/purchases/{session_id}"): {"200", "401", "404"},
    ("POST", "/webhooks/stripe"): {"200", "400", "500", "503"},
    ("POST", "/internal/credits/consume"): {"200", "400", "402", "403", "409"},
    ("GET", "/credits/settings"): {"200", "401"},
    ("PUT", "/credits/settings"): {"200", "400", "401", "409", "413"},
    ("GET", "/credits/usage"): {"200", "400", "401"},
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
        ("ConsumeRequest", "description", {"maxLength": 200}),
        ("HoldRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("HoldRequest", "ttl_seconds", {"minimum": 1, "maximum": 86_400}),
        ("HoldRequest", "description", {"maxLength": 200}),
        ("CaptureRequest", "amount", {"minimum": 0, "maximum": 1_000_000_000}),
        ("InternalConsumeRequest", "amount", {"minimum": 1, "maximum": 1_000_000_000}),
        ("InternalConsumeRequest", "description", {"maxLength": 200}),
    ],
)
def test_request_bodies_are_strict_and_bounded(schema_name, field, bounds):
    schema = spec()["components"]["schemas"][schema_name]
    assert schema["additionalProperties"] is False
    prop = resolve(schema["properties"][field])
    assert {k: prop.get(k) for k in bounds} == bounds


def test_request_models_agree_with_the_spec():
    """The pydantic models the handlers validate with and the spec's request schemas name the same fields."""
    from credits import api
    from credits.events.requests import SettingsPatch

    models = {
        "SettingsPatch": SettingsPatch,
        "ConsumeRequest": api.ConsumeRequest,
        "HoldRequest": api.HoldRequest,
        "CaptureRequest": api.CaptureRequest,
        "ReleaseRequest": api.ReleaseRequest,
        "PurchaseRequest": api.PurchaseRequest,
        "InternalConsumeRequest": api.InternalConsumeRequest,
    }
    for name, model in models.items():
        schema = spec()["components"]["schemas"][name]
        assert set(schema.get("properties", {})) == set(model.model_fields), name
        required = {f for f, info in model.model_fields.items() if info.is_required()}
        assert set(schema.get("required", [])) == required, name


def test_idempotency_key_header_is_bounded():
    header = spec()["components"]["parameters"]["IdempotencyKey"]
    assert (header["in"], header["required"]) == ("header", False)
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)
    for key in [("POST", "/credits/consume"), ("POST", "/credits/holds"), ("POST", "/credits/purchase")]:
        refs = [p.get("$ref") for p in operations()[key].get("parameters", [])]
        assert "#/components/parameters/IdempotencyKey" in refs, key
