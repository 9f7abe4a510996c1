"""WebhookVerifier: Standard Webhooks signatures, checked against an HMAC computed here from the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

import credits_client as cc

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
EVENT = {"type": "credits.balance.low", "timestamp": "2026-01-02T03:04:05.000Z",
         "data": {"user_id": "u1", "available": 40, "threshold": 50}}


def sign(body: bytes, msg_id: str = "evt_1", ts: int | None = None, key: bytes = KEY) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


BODY = json.dumps(EVENT).encode()


def test_a_correctly_signed_event_verifies_into_a_typed_event() -> None:
    event = cc.WebhookVerifier(SECRET).verify(BODY, sign(BODY))
    assert event == cc.WebhookEvent("evt_1", "credits.balance.low", "2026-01-02T03:04:05.000Z", EVENT["data"])


def test_header_names_are_case_insensitive_and_the_body_may_be_text() -> None:
    headers = {k.title(): v for k, v in sign(BODY).items()}
    assert cc.WebhookVerifier(SECRET).verify(BODY.decode(), headers).id == "evt_1"


def test_one_valid_signature_among_several_is_enough_for_secret_rotation() -> None:
    good = sign(BODY)
    other = sign(BODY, key=b"x" * 32)["webhook-signature"]
    good["webhook-signature"] = f"{other} {good['webhook-signature']}"
    assert cc.WebhookVerifier(SECRET).verify(BODY, good).type == "credits.balance.low"


@pytest.mark.parametrize(("case", "body", "headers"), [
    ("tampered body", BODY.replace(b"40", b"4000"), sign(BODY)),
    ("other key", BODY, sign(BODY, key=b"k" * 32)),
    ("other id", BODY, {**sign(BODY), "webhook-id": "evt_2"}),
    ("stale timestamp", BODY, sign(BODY, ts=int(time.time()) - 301)),
    ("future timestamp", BODY, sign(BODY, ts=int(time.time()) + 301)),
    ("no signature", BODY, {k: v for k, v in sign(BODY).items() if k != "webhook-signature"}),
    ("no id", BODY, {k: v for k, v in sign(BODY).items() if k != "webhook-id"}),
    ("garbage signature", BODY, {**sign(BODY), "webhook-signature": "garbage"}),
    ("bad base64 signature", BODY, {**sign(BODY), "webhook-signature": "v1,!!!"}),
    ("non-numeric timestamp", BODY, {**sign(BODY), "webhook-timestamp": "soon"}),
    ("body not JSON", b"not json", sign(b"not json")),
    ("body not an event", b"[1, 2]", sign(b"[1, 2]")),
    ("event without data", b'{"type": "x"}', sign(b'{"type": "x"}')),
    ("body not UTF-8", b"\xff\xfe", sign(b"\xff\xfe")),
])
def test_anything_unverified_raises_webhook_verification_error(case: str, body: bytes, headers: dict) -> None:
    with pytest.raises(cc.WebhookVerificationError) as info:
        cc.WebhookVerifier(SECRET).verify(body, headers)
    assert isinstance(info.value, cc.CreditsError) and info.value.code == "invalid_signature"


@pytest.mark.parametrize("secret", [
    "whsec_local_dev_secret_do_not_use_in_production",  # not base64: would silently become other bytes
    "whsec_" + base64.b64encode(b"short").decode(),
    "whsec_" + base64.b64encode(b"placeholder-placeholder-1234").decode() + "placeholder",
    base64.b64encode(KEY).decode(),  # no prefix
    "",
])
def test_a_secret_of_the_wrong_shape_is_refused(secret: str) -> None:
    with pytest.raises(cc.ConfigurationError):
        cc.WebhookVerifier(secret)
