"""CreditsAdminClient: SigV4 signatures (checked against the spec, recomputed here), internal routes, the extra."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials
from client_support import CONSUME, GRANT, Recorder, err, ok, refuse_requests

import credits_client as cc

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


def admin(*answers: Any, credentials: Any = None, **kw: Any) -> tuple[cc.CreditsAdminClient, Recorder]:
    rec = Recorder(list(answers))
    client = cc.CreditsAdminClient(URL, credentials=credentials or Credentials("AKIDEXAMPLE", "secret-key"),
                                   transport=rec.transport, retry=rec.policy(), **kw)
    return client, rec


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def check_sigv4(request: httpx.Request, secret: str, region: str, service: str = "execute-api") -> list[str]:
    """Recompute the signature from the request as sent (AWS Signature Version 4) and compare."""
    auth = request.headers["authorization"]
    algo, _, rest = auth.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    assert algo == "AWS4-HMAC-SHA256"
    _, date, reg, svc, term = fields["Credential"].split("/")
    assert (reg, svc, term) == (region, service, "aws4_request")
    signed = fields["SignedHeaders"].split(";")
    amz_date = request.headers["x-amz-date"]
    canonical_headers = "".join(f"{h}:{request.headers[h].strip()}\n" for h in signed)
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                     for k, v in sorted(request.url.params.multi_items()))
    canonical = "\n".join([request.method, quote(request.url.path, safe="/-_.~"), query, canonical_headers,
                           ";".join(signed), hashlib.sha256(request.content).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    assert hmac.compare_digest(fields["Signature"], hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())
    return signed


def test_internal_consume_is_sigv4_signed_for_execute_api_in_the_urls_region() -> None:
    client, rec = admin(ok({**CONSUME, "user_id": "u1"}))
    result = client.consume("u1", 5, description="batch", idempotency_key="job-1")
    (req,) = rec.requests
    assert (req.url.path, json.loads(req.content)) == ("/prod/internal/credits/consume",
                                                       {"user_id": "u1", "amount": 5, "description": "batch"})
    signed = check_sigv4(req, "secret-key", "eu-west-1")
    assert {"host", "content-type", "idempotency-key", "x-amz-date"} <= set(signed)
    assert "user-agent" not in signed and "x-amz-security-token" not in req.headers
    assert (result.user_id, result.transaction_id, client.region) == ("u1", "tx_1", "eu-west-1")


def test_the_signature_check_itself_fails_on_a_tampered_body() -> None:
    client, rec = admin(ok({**CONSUME, "user_id": "u1"}))
    client.consume("u1", 5)
    sent = rec.requests[0]
    tampered = httpx.Request(sent.method, sent.url, headers=sent.headers, content=sent.content.replace(b"5", b"9"))
    with pytest.raises(AssertionError):
        check_sigv4(tampered, "secret-key", "eu-west-1")


def test_a_session_token_is_sent_and_signed() -> None:
    client, rec = admin(ok({**CONSUME, "user_id": "u1"}), credentials=Credentials("AKID", "sk", "session-tok"))
    client.consume("u1", 1)
    assert rec.requests[0].headers["x-amz-security-token"] == "session-tok"
    assert "x-amz-security-token" in check_sigv4(rec.requests[0], "sk", "eu-west-1")


def test_every_attempt_is_signed_afresh_with_current_credentials() -> None:
    class Rotating:
        def __init__(self) -> None:
            self.calls = 0

        def get_frozen_credentials(self) -> ReadOnlyCredentials:
            self.calls += 1
            return ReadOnlyCredentials(f"AKID{self.calls}", f"secret{self.calls}", None)

    creds = Rotating()
    client, rec = admin(err(503, "x"), ok({**CONSUME, "user_id": "u1"}), credentials=creds)
    client.consume("u1", 1)
    assert creds.calls == 2
    for i, req in enumerate(rec.requests, start=1):
        check_sigv4(req, f"secret{i}", "eu-west-1")
    assert len(set(rec.keys())) == 1


def test_an_explicit_region_wins_over_the_url() -> None:
    client, rec = admin(ok({**CONSUME, "user_id": "u"}), region="us-west-2")
    client.consume("u", 1)
    check_sigv4(rec.requests[0], "secret-key", "us-west-2")


def test_grant_sends_the_body_and_a_key_and_parses_the_grant() -> None:
    client, rec = admin(ok({**GRANT, "replayed": True}, 200))
    grant = client.grant("u1", 50, category="paid", priority=10,
                         expires_at=dt.datetime(2027, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                         description="promo")
    assert json.loads(rec.requests[0].content) == {"user_id": "u1", "amount": 50, "category": "paid",
                                                   "priority": 10, "expires_at": "2027-01-01T10:00:00.000Z",
                                                   "description": "promo"}
    assert rec.requests[0].url.path == "/prod/internal/credits/grants" and rec.keys()[0]
    assert (grant.grant_id, grant.remaining, grant.replayed) == ("g_1", 40, True)


def test_void_grant_posts_the_reason_and_returns_the_voided_grant() -> None:
    client, rec = admin(ok({**GRANT, "status": "voided", "remaining": 0, "voided": 40}))
    grant = client.void_grant("u1", "g_1", reason="fraud")
    assert rec.requests[0].url.path == "/prod/internal/credits/grants/g_1/void"
    assert json.loads(rec.requests[0].content) == {"user_id": "u1", "reason": "fraud"}
    assert (grant.status, grant.voided) == ("voided", 40)


def test_void_of_a_grant_not_active_raises_grant_not_active() -> None:
    client, _ = admin(err(409, "grant_not_active"))
    with pytest.raises(cc.GrantNotActive):
        client.void_grant("u1", "g_1", reason="x")


@pytest.mark.parametrize("call", [
    lambda c: c.consume("", 1),
    lambda c: c.consume("u", -1),
    lambda c: c.consume("u", feature="f", quantity=0),
    lambda c: c.grant("u", 0),
    lambda c: c.grant("u", 5, category="gift"),
    lambda c: c.grant("u", 5, priority=101),
    lambda c: c.grant("u", 5, expires_in_days=0),
    lambda c: c.grant("u", 5, expires_in_days=3651),
    lambda c: c.grant("u", 5, expires_in_days=3, expires_at="2030-01-01T00:00:00Z"),
    lambda c: c.grant("u", 5, expires_at=dt.datetime(2030, 1, 1)),  # naive: ambiguous
    lambda c: c.void_grant("u", "g", reason=""),
    lambda c: c.void_grant("u", "", reason="r"),
])
def test_bad_admin_input_fails_before_any_request(call: Any) -> None:
    client = cc.CreditsAdminClient(URL, credentials=Credentials("a", "b"),
                                   transport=Recorder([refuse_requests]).transport)
    with pytest.raises(cc.InvalidRequest):
        call(client)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update({"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                  "AWS_EC2_METADATA_DISABLED": "true", **env})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=clean, capture_output=True, text=True,
                          timeout=60)


def test_importing_the_package_does_not_import_botocore() -> None:
    out = _python("""
        import sys, credits_client
        credits_client.CreditsClient("http://127.0.0.1:3000", token="t")
        print("botocore" in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_without_the_aws_extra_the_admin_client_names_the_extra_and_user_clients_work() -> None:
    out = _python("""
        import sys
        sys.modules["botocore"] = None  # as if credits-client was installed without [aws]
        import credits_client
        credits_client.CreditsClient("http://127.0.0.1:3000", token="t")
        try:
            credits_client.CreditsAdminClient("http://127.0.0.1:3000", region="us-east-1")
        except credits_client.ConfigurationError as e:
            print(e.code, "|", e.message)
    """)
    assert out.returncode == 0, out.stderr
    code, message = out.stdout.strip().split(" | ")
    assert code == "missing_extra" and "pip install 'credits-client[aws]'" in message


def test_the_standard_chain_supplies_credentials_and_region_from_the_environment() -> None:
    out = _python("""
        import credits_client
        c = credits_client.CreditsAdminClient("http://127.0.0.1:3000")
        print(c.region)
    """, AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envsecret", AWS_DEFAULT_REGION="ap-south-1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ap-south-1"


@pytest.mark.parametrize(("env", "code"), [
    ({}, "missing_credentials"),
    ({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "missing_region"),
])
def test_missing_credentials_or_region_fail_at_construction_with_a_clear_error(env: dict, code: str) -> None:
    out = _python("""
        import credits_client
        try:
            credits_client.CreditsAdminClient("http://127.0.0.1:3000")
        except credits_client.ConfigurationError as e:
            print(e.code)
    """, **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == code
