"""WebhookVerifier: Standard Webhooks signatures, checked against an HMAC computed here from the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

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


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in sign(BODY).items() if k != name}


# Built at test time (not at collection), so the timestamps are relative to the moment of verification.
UNVERIFIED: list[tuple[str, Any]] = [
    ("tampered body", lambda: (BODY.replace(b"40", b"4000"), sign(BODY))),
    ("other key", lambda: (BODY, sign(BODY, key=b"k" * 32))),
    ("other id", lambda: (BODY, {**sign(BODY), "webhook-id": "evt_2"})),
    ("stale timestamp", lambda: (BODY, sign(BODY, ts=int(time.time()) - 360))),
    ("future timestamp", lambda: (BODY, sign(BODY, ts=int(time.time()) + 360))),
    ("no signature", lambda: (BODY, _without("webhook-signature"))),
    ("no id", lambda: (BODY, _without("webhook-id"))),
    ("no timestamp", lambda: (BODY, _without("webhook-timestamp"))),
    ("garbage signature", lambda: (BODY, {**sign(BODY), "webhook-signature": "garbage"})),
    ("bad base64 signature", lambda: (BODY, {**sign(BODY), "webhook-signature": "v1,!!!"})),
    ("non-numeric timestamp", lambda: (BODY, {**sign(BODY), "webhook-timestamp": "soon"})),
    ("body not JSON", lambda: (b"not json", sign(b"not json"))),
    ("body not an event", lambda: (b"[1, 2]", sign(b"[1, 2]"))),
    ("event without data", lambda: (b'{"type": "x"}', sign(b'{"type": "x"}'))),
    ("body not UTF-8", lambda: (b"\xff\xfe", sign(b"\xff\xfe"))),
]


@pytest.mark.parametrize("make", [u[1] for u in UNVERIFIED], ids=[u[0] for u in UNVERIFIED])
def test_anything_unverified_raises_webhook_verification_error(make: Any) -> None:
    body, headers = make()
    with pytest.raises(cc.WebhookVerificationError) as info:
        cc.WebhookVerifier(SECRET).verify(body, headers)
    assert isinstance(info.value, cc.CreditsError) and info.value.code == "invalid_signature"


def test_a_timestamp_within_five_minutes_either_way_is_accepted() -> None:
    for skew in (-240, 240):
        assert cc.WebhookVerifier(SECRET).verify(BODY, sign(BODY, ts=int(time.time()) + skew)).id == "evt_1"


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
