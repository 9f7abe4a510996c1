"""Invariant 3: every bad input gets a clear 4xx in the error envelope, never a 5xx or a stack trace."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from local.server import DEV_AUDIENCE, DEV_ISSUER, DEV_JWT_SECRET

BAD_AMOUNTS = [None, "5", 1.5, 1.0, -1, 0, 1_000_000_001, 10**30, True, [], {}, "١٢"]
GOOD = {
    "/credits/consume": {"amount": 1},
    "/credits/holds": {"amount": 1},
}


def assert_envelope(resp: Any, status: int | tuple[int, ...], code: str | None = None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in resp.text and "File \"" not in resp.text
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def funded(stack, user):
    stack.seed(user, 1000, "seed")
    return user


@pytest.mark.parametrize("path", list(GOOD))
@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_bad_amounts_are_400_naming_the_field(stack, http, funded, path, amount):
    resp = http.post(stack.url(path), json={"amount": amount}, headers=stack.headers(funded))
    error = assert_envelope(resp, 400, "invalid_request")
    assert "amount" in error["message"]


@pytest.mark.parametrize("path", list(GOOD))
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "amount"),
        ({"amount": 1, "user_id": "someone-else"}, "user_id"),
        ({"amount": 1, "description": "x" * 201}, "description"),
        ({"amount": 1, "description": 5}, "description"),
    ],
    ids=["missing", "extra-field", "long-description", "description-type"],
)
def test_missing_extra_and_mistyped_fields_are_400(stack, http, funded, path, body, field):
    error = assert_envelope(http.post(stack.url(path), json=body, headers=stack.headers(funded)), 400)
    assert field in error["message"]


@pytest.mark.parametrize("path", ["/credits/consume", "/credits/holds", "/credits/purchase"])
@pytest.mark.parametrize("raw", [b"{bad", b"[1,2]", b'"amount"', b"\xff\xfe", b"null", b"{\"amount\": 1,}"])
def test_malformed_json_is_400(stack, http, funded, path, raw):
    resp = http.post(stack.url(path), data=raw, headers=stack.headers(funded, **{"Content-Type": "application/json"}))
    assert_envelope(resp, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/credits/consume", "/credits/holds", "/credits/purchase"])
def test_oversize_body_is_413(stack, http, funded, path):
    body = json.dumps({"amount": 1, "description": "x" * (65 * 1024)})
    resp = http.post(stack.url(path), data=body, headers=stack.headers(funded, **{"Content-Type": "application/json"}))
    assert_envelope(resp, (413, 400))


def test_unicode_description_is_accepted_and_stored_exactly(stack, http, funded):
    text = "Résumé ✓ 日本語 🚀"
    resp = http.post(stack.url("/credits/consume"), json={"amount": 1, "description": text}, headers=stack.headers(funded))
    assert resp.status_code == 200
    items = http.get(stack.url("/credits/history?limit=1"), headers=stack.headers(funded)).json()["items"]
    assert items[0]["description"] == text


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_idempotency_key_is_400(stack, http, funded, key):
    resp = http.post(stack.url("/credits/consume"), json={"amount": 1},
                     headers=stack.headers(funded, **{"Idempotency-Key": key}))
    assert_envelope(resp, 400, "invalid_request")


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=abc", "limit=1.5", "limit=-1", "type=bogus", "cursor=%00", "cursor=",
     "cursor=e30.%C3%A9", "cursor=%F0%9F%9A%80.%F0%9F%9A%80"],
)
def test_bad_history_query_is_400(stack, http, funded, query):
    resp = http.get(stack.url(f"/credits/history?{query}"), headers=stack.headers(funded))
    assert_envelope(resp, 400, "invalid_request")


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "status=bogus", "cursor=%00", "cursor=e30.%C3%A9", "cursor=abc.def"],
)
def test_bad_grants_query_is_400(stack, http, funded, query):
    resp = http.get(stack.url(f"/credits/grants?{query}"), headers=stack.headers(funded))
    assert_envelope(resp, 400, "invalid_request")


@pytest.mark.parametrize("feature", ["no.such.feature", "f" * 65, "x" * 5000], ids=["unknown", "65 chars", "5000 chars"])
def test_a_feature_missing_from_the_price_list_is_unknown_feature_however_long(stack, http, funded, feature):
    resp = http.post(stack.url("/credits/consume"), json={"feature": feature}, headers=stack.headers(funded))
    assert_envelope(resp, 400, "unknown_feature")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/capture", {"amount": -1}),
        ("/capture", {"amount": "1"}),
        ("/capture", {"amount": 1.5}),
        ("/capture", {"extra": 1}),
        ("/release", {"amount": 1}),
    ],
)
def test_bad_capture_and_release_bodies_are_400(stack, http, funded, path, body):
    hold = http.post(stack.url("/credits/holds"), json={"amount": 5}, headers=stack.headers(funded)).json()
    resp = http.post(stack.url(f"/credits/holds/{hold['hold_id']}{path}"), json=body, headers=stack.headers(funded))
    assert_envelope(resp, 400, "invalid_request")


@pytest.mark.parametrize("ttl", [0, 86_401, "60", 1.5])
def test_bad_hold_ttl_is_400(stack, http, funded, ttl):
    resp = http.post(stack.url("/credits/holds"), json={"amount": 1, "ttl_seconds": ttl}, headers=stack.headers(funded))
    assert "ttl_seconds" in assert_envelope(resp, 400, "invalid_request")["message"]


def test_unknown_hold_id_is_404(stack, http, funded):
    for hid in ("hold_nope", "x" * 100, "%F0%9F%9A%80"):
        assert_envelope(http.get(stack.url(f"/credits/holds/{hid}"), headers=stack.headers(funded)), 404, "not_found")


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "mallory", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + 600, **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")


AUTH_ROUTES = [
    ("GET", "/credits/balance"),
    ("GET", "/credits/history"),
    ("POST", "/credits/consume"),
    ("POST", "/credits/holds"),
    ("GET", "/credits/holds/hold_x"),
    ("POST", "/credits/holds/hold_x/capture"),
    ("POST", "/credits/holds/hold_x/release"),
    ("POST", "/credits/purchase"),
    ("GET", "/credits/purchases/cs_test_x"),
]
BAD_AUTH = {
    "missing": None,
    "not-bearer": "Basic YTpi",
    "garbage": "Bearer not.a.jwt",
    "wrong-signature": "Bearer " + jwt.encode({"sub": "x", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
                                               "exp": int(time.time()) + 600}, "another-secret-key-of-32-bytes!!",
                                              algorithm="HS256"),
    "expired": "Bearer " + _token(exp=int(time.time()) - 10),
    "no-sub": "Bearer " + _token(sub=None),
    "wrong-audience": "Bearer " + _token(aud="someone-else"),
    "alg-none": "Bearer " + jwt.encode({"sub": "x", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE}, None, algorithm="none"),
}


@pytest.mark.parametrize(("method", "path"), AUTH_ROUTES)
@pytest.mark.parametrize("auth", list(BAD_AUTH))
def test_missing_or_invalid_jwt_is_401(stack, http, method, path, auth):
    headers = {} if BAD_AUTH[auth] is None else {"Authorization": BAD_AUTH[auth]}
    resp = http.request(method, stack.url(path), json={"amount": 1}, headers=headers)
    assert_envelope(resp, 401, "unauthorized")


def test_unknown_route_is_404_envelope(stack, http):
    assert_envelope(http.get(stack.url("/credits/nope")), 404)


def test_public_routes_need_no_token(stack, http):
    assert http.get(stack.url("/health")).json() == {"status": "ok"}
    bundles = http.get(stack.url("/credits/bundles")).json()["bundles"]
    standard = next(b for b in bundles if b["id"] == "standard")
    assert standard == {"id": "standard", "name": standard["name"], "credits": 2000, "unit_amount": 1990,
                        "currency": "usd", "expires_after_days": None}


def test_unseen_user_gets_zeros_not_404(stack, http, user):
    body = http.get(stack.url("/credits/balance"), headers=stack.headers(user)).json()
    assert body == {"user_id": user, "balance": 0, "held": 0, "available": 0, "updated_at": None, "expiring": None}


@pytest.mark.parametrize("body", [{}, {"sub": ""}, {"sub": 5}, {"sub": "a", "email": "nope"}])
def test_dev_token_validates_input(stack, http, body):
    assert_envelope(http.post(stack.url("/dev/token"), json=body), 400, "invalid_request")


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT", "DELETE", "PATCH"])
def test_undeclared_methods_get_a_4xx_envelope(stack, http, method):
    assert_envelope(http.request(method, stack.url("/credits/balance")), (401, 404, 405))


@pytest.mark.parametrize("path", ["/credits/consume", "/credits/holds", "/credits/purchase", "/dev/token"])
def test_absurdly_nested_json_is_400_not_500(stack, http, funded, path):
    body = b"[" * 60_000  # under 64 KiB, deeper than the parser's recursion limit
    resp = http.post(stack.url(path), data=body, headers=stack.headers(funded, **{"Content-Type": "application/json"}))
    assert_envelope(resp, 400, "invalid_request")


def test_long_unknown_bundle_is_unknown_bundle(stack, http, funded):
    resp = http.post(stack.url("/credits/purchase"), json={"bundle": "x" * 300}, headers=stack.headers(funded))
    error = assert_envelope(resp, 400, "unknown_bundle")
    assert len(error["message"]) < 200


def _raw(stack, request: bytes) -> bytes:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(stack.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: abc\r\n", b" 400 "),
        (b"Content-Length: -5\r\n", b" 400 "),
        (b"Transfer-Encoding: chunked\r\n", b" 411 "),
    ],
)
def test_bad_request_framing_gets_an_envelope_not_a_hang(stack, headers, status):
    response = _raw(stack, b"POST /credits/consume HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n5\r\nhello\r\n0\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert status in head.split(b"\r\n")[0]
    assert b'"error"' in body
