"""The local stack's hardening, through its real HTTP port: envelope for malformed HTTP, claims, timeouts, cursors.

Raw sockets are used where ``requests`` would refuse to send the malformed request in the first place.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from local.server import DEV_AUDIENCE, DEV_ISSUER, DEV_JWT_SECRET, LocalStack, StackConfig
from local.template import ROOT, load_template


# --- raw HTTP ------------------------------------------------------------------------------------------------------
def raw(stack: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")))
                if len(rest) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


def assert_envelope(status: int, headers: dict[str, str], body: bytes, expected_status: int, code: str) -> None:
    assert status == expected_status, (status, body)
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]
    assert b"<html" not in body.lower() and b"Traceback" not in body


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GARBAGE\r\n\r\n", 400, "invalid_request"),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "invalid_request"),  # stdlib: 505, a 5xx for the client's mistake
    (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    (b"GET / HTTP/x.y\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    (b"GET /\r\n\r\n", 400, "invalid_request"),  # HTTP/0.9: would have been answered without a status line
    (b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),  # stdlib: 501
    (b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
     431, "headers_too_large"),
    (b"POST /credits/consume HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\r\n\r\n", 400, "invalid_request"),
    (b"POST /credits/consume HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
     400, "invalid_request"),
])
def test_malformed_http_is_answered_with_the_json_envelope_and_a_4xx(stack, request_bytes, status, code):
    got, headers, body = raw(stack, request_bytes)
    assert_envelope(got, headers, body, status, code)
    if status == 405:
        assert "POST" in headers["allow"]


def test_the_server_still_serves_after_malformed_requests(stack, http):
    raw(stack, b"GARBAGE\r\n\r\n")
    assert http.get(stack.url("/health")).json() == {"status": "ok"}


def test_local_invoke_with_bad_json_is_400(stack, http):
    r = http.post(stack.url("/_local/invoke/HoldSweeperFunction"), data=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_dashboard_is_served_with_the_deployed_security_headers(stack, http):
    r = http.get(stack.url("/"))
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert "${" not in csp
    assert (r.headers["x-frame-options"], r.headers["x-content-type-options"]) == ("DENY", "nosniff")


# --- claims --------------------------------------------------------------------------------------------------------
def token(**claims: Any) -> str:
    now = int(time.time())
    body = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, DEV_JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("claims", [
    {"sub": "\ud800"},  # a lone surrogate: used to reach DynamoDB and answer 500
    {"sub": "a" * 257},
    {"sub": ""},
    {"sub": "alice", "exp": str(int(time.time()) + 600)},  # a string exp: PyJWT accepts it
    {"sub": "alice", "exp": True},
])
def test_tokens_with_ill_formed_claims_are_401(stack, http, claims):
    r = http.get(stack.url("/credits/balance"), headers={"Authorization": f"Bearer {token(**claims)}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text


def test_dev_token_takes_any_valid_sub_up_to_256_characters(stack, http):
    sub = "ü" * 256
    r = http.post(stack.url("/dev/token"), json={"sub": sub})
    assert r.status_code == 200
    balance = http.get(stack.url("/credits/balance"), headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert balance.status_code == 200 and balance.json()["user_id"] == sub
    for bad in ("ü" * 257, "\ud800"):
        r = http.post(stack.url("/dev/token"), data=json.dumps({"sub": bad}).encode(),
                      headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


# --- cursors -------------------------------------------------------------------------------------------------------
def test_history_pages_for_a_256_character_non_ascii_user(stack, http):
    user = ("ж" * 255) + uuid.uuid4().hex[:1]
    for i in range(3):
        stack.ledger.adjust(user, 10 + i, f"seed {i}", f"seed-{i}-{uuid.uuid4().hex}")
    headers = stack.headers(user)
    first = http.get(stack.url("/credits/history"), params={"limit": 1, "type": "adjustment"}, headers=headers)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor and len(cursor) <= 1024  # used to be 1,136 characters, which the API then refused
    second = http.get(stack.url("/credits/history"), params={"limit": 1, "type": "adjustment", "cursor": cursor},
                      headers=headers)
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["id"] != first.json()["items"][0]["id"]


# --- timeouts ------------------------------------------------------------------------------------------------------
SLOW_TIMEOUT = 1


def slow_template(timeout: float) -> dict[str, Any]:
    """template.yaml plus a test-only function that sleeps, with a short Timeout."""
    template = copy.deepcopy(load_template())
    template["Resources"]["SlowFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str((ROOT / "tests/fixtures/functions/slow").relative_to(ROOT)) + "/",
            "Handler": "app.lambda_handler",
            "Timeout": timeout,
            "Events": {"Slow": {"Type": "HttpApi", "Properties": {"Path": "/_test/slow", "Method": "GET",
                                                                    "Auth": {"Authorizer": "NONE"}}}},
        },
    }
    return template


@pytest.fixture
def slow_stack(ddb_local: Any, table: str) -> Iterator[Any]:
    from local.dynamodb_local import free_port

    saved = dict(os.environ)  # a second stack rewrites the process env (URLs of its own); give it back after
    local = LocalStack(StackConfig(port=free_port(), table_name=table, dynamodb_endpoint=ddb_local.endpoint,
                                   integration_timeout=3), template=slow_template(SLOW_TIMEOUT))
    local.start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


def test_a_handler_past_its_timeout_is_answered_like_api_gateway_and_logged(slow_stack, http, capfd):
    started = time.monotonic()
    r = http.get(slow_stack.config.base_url + "/_test/slow", params={"seconds": 4})
    elapsed = time.monotonic() - started
    assert r.status_code == 500 and r.json()["error"]["code"] == "function_timeout"  # Lambda timeout: API GW 500
    assert SLOW_TIMEOUT <= elapsed < SLOW_TIMEOUT + 1.5
    assert "Task timed out after 1.00 seconds" in capfd.readouterr().err
    ok = http.get(slow_stack.config.base_url + "/_test/slow", params={"seconds": 0})  # a fresh environment answers
    assert ok.status_code == 200 and ok.json()["remaining_ms"] <= SLOW_TIMEOUT * 1000


def test_api_gateway_integration_limit_answers_503_when_it_comes_first(ddb_local, table, http):
    from local.dynamodb_local import free_port

    saved = dict(os.environ)
    local = LocalStack(StackConfig(port=free_port(), table_name=table, dynamodb_endpoint=ddb_local.endpoint,
                                   integration_timeout=1), template=slow_template(10)).start()
    try:
        r = http.get(local.config.base_url + "/_test/slow", params={"seconds": 3})
        assert r.status_code == 503 and r.json()["error"]["code"] == "function_timeout"
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


def test_every_function_gets_its_template_timeout(stack):
    template = load_template()
    default = template["Globals"]["Function"]["Timeout"]
    for name, pool in stack.stack.pools.items():
        assert pool.timeout == template["Resources"][name]["Properties"].get("Timeout", default), name
