"""Error answers map to the typed exceptions, by the envelope's code first, then by status."""

from __future__ import annotations

import httpx
import pytest
from client_support import err, ok, sync_client

import credits_client as cc


@pytest.mark.parametrize(("status", "code", "expected"), [
    (400, "invalid_request", cc.InvalidRequest),
    (400, "unknown_feature", cc.InvalidRequest),
    (400, "unknown_bundle", cc.InvalidRequest),
    (413, "payload_too_large", cc.InvalidRequest),
    (401, "unauthorized", cc.Unauthorized),
    (403, "forbidden", cc.Forbidden),
    (404, "not_found", cc.NotFound),
    (409, "idempotency_key_reused", cc.IdempotencyKeyReused),
    (409, "hold_not_pending", cc.HoldNotPending),
    (409, "hold_expired", cc.HoldExpired),
    (409, "grant_not_active", cc.GrantNotActive),
    (409, "payment_method_required", cc.PaymentMethodRequired),
    (503, "temporarily_unavailable", cc.ServiceUnavailable),
    (502, "payment_provider_error", cc.ServiceUnavailable),
    (429, "too_many_requests", cc.ServiceUnavailable),
    (409, "some_new_conflict", cc.CreditsError),
    (418, "teapot", cc.CreditsError),
])
def test_error_answers_raise_the_typed_exception_with_status_code_and_message(status, code, expected) -> None:
    client, rec = sync_client(err(status, code, "Something for a person."), max_retries=0)
    with pytest.raises(cc.CreditsError) as info:
        client.consume(1)
    assert type(info.value) is expected
    assert (info.value.status, info.value.code, info.value.message) == (status, code, "Something for a person.")
    assert info.value.idempotency_key == rec.keys()[0]


def test_hold_expired_is_also_a_hold_not_pending() -> None:
    client, _ = sync_client(err(409, "hold_expired"))
    with pytest.raises(cc.HoldNotPending):
        client.capture_hold("h1")


def test_insufficient_credits_carries_available_and_required() -> None:
    client, _ = sync_client(err(402, "insufficient_credits", "Not enough credits.", available=3, required=5))
    with pytest.raises(cc.InsufficientCredits) as info:
        client.consume(5)
    assert (info.value.available, info.value.required, info.value.status) == (3, 5, 402)
    assert info.value.details == {"available": 3, "required": 5}


def test_a_402_without_the_contract_fields_is_still_a_credits_error() -> None:
    client, _ = sync_client(err(402, "insufficient_credits"))
    with pytest.raises(cc.CreditsError) as info:
        client.consume(5)
    assert not isinstance(info.value, cc.InsufficientCredits) and info.value.status == 402


def test_api_gateway_own_answers_map_by_status() -> None:
    client, _ = sync_client(httpx.Response(403, json={"message": "Forbidden"}))
    with pytest.raises(cc.Forbidden) as info:
        client.balance()
    assert (info.value.code, info.value.message) == ("forbidden", "Forbidden")


def test_a_non_json_error_page_still_maps_to_a_typed_error() -> None:
    client, _ = sync_client(httpx.Response(502, text="<html>Bad gateway</html>"), max_retries=0)
    with pytest.raises(cc.ServiceUnavailable) as info:
        client.balance()
    assert info.value.status == 502 and "502" in info.value.message


def test_every_client_exception_is_a_credits_error() -> None:
    for name in cc.__all__:
        obj = getattr(cc, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, cc.CreditsError), name


def test_str_of_an_error_names_status_and_code() -> None:
    client, _ = sync_client(err(404, "not_found", "No such hold."))
    with pytest.raises(cc.NotFound) as info:
        client.get_hold("h")
    assert str(info.value) == "No such hold. (HTTP 404, not_found)"


def test_a_success_after_an_error_is_parsed_normally() -> None:
    client, _ = sync_client(err(503, "temporarily_unavailable"), ok({"status": "ok"}))
    assert client.health() == "ok"
