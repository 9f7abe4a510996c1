"""The outbound secret and thresholds are validated at cold start; PutEvents failures are retried, then raised."""

from __future__ import annotations

import base64
import json

import pytest

from credits.errors import ConfigError
from credits.events.config import DeliveryConfig, parse_thresholds, validate_outbound_secret
from credits.events.model import DomainEvent
from credits.events.publisher import EventBridgePublisher, PublishFailed
from local.server import DEV_OUTBOUND_SECRET, DEV_WEBHOOK_SECRET

GOOD = "whsec_" + base64.b64encode(b"k" * 24).decode()


@pytest.mark.parametrize("secret", [
    GOOD,
    GOOD.rstrip("="),  # unpadded base64, as Svix-style secrets come
    DEV_OUTBOUND_SECRET,
])
def test_standard_webhooks_secrets_are_accepted(secret):
    assert validate_outbound_secret(secret, "OUTBOUND_WEBHOOK_SECRET") == secret


@pytest.mark.parametrize("secret", [
    "",
    "whsec_",
    "whsec_" + base64.b64encode(b"k" * 23).decode(),  # 23 bytes: too short
    DEV_WEBHOOK_SECRET,  # Stripe-style whsec_: not base64 of >= 24 bytes
    "whsec_placeholder",
    "whsec_" + base64.b64encode(b"placeholder-placeholder-xx").decode().replace("c", "C") + "placeholder",
    "sk_test_" + "a" * 30,
    "whsec_!!!!" + "A" * 40,
])
def test_other_shapes_are_refused_naming_the_setting_and_never_echoing_it(secret):
    with pytest.raises(ConfigError, match="OUTBOUND_WEBHOOK_SECRET") as info:
        validate_outbound_secret(secret, "OUTBOUND_WEBHOOK_SECRET")
    assert not secret.removeprefix("whsec_") or secret not in str(info.value)


def test_delivery_config_refuses_a_bad_secret_and_a_url_without_any_secret():
    with pytest.raises(ConfigError, match="OUTBOUND_WEBHOOK_SECRET"):
        DeliveryConfig.from_env({"OUTBOUND_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET})
    with pytest.raises(ConfigError, match="OUTBOUND_WEBHOOK_SECRET"):
        DeliveryConfig.from_env({"OUTBOUND_WEBHOOK_URL": "https://app.example/hooks"})
    with pytest.raises(ConfigError, match="OUTBOUND_WEBHOOK_URL"):
        DeliveryConfig.from_env({"OUTBOUND_WEBHOOK_URL": "ftp://x", "OUTBOUND_WEBHOOK_SECRET": GOOD})
    cfg = DeliveryConfig.from_env({"OUTBOUND_WEBHOOK_URL": "https://app.example/hooks",
                                   "OUTBOUND_WEBHOOK_SECRET_PARAM": "/credits/outbound"})
    assert (cfg.url, cfg.secret, cfg.secret_param, cfg.retry_base_seconds) == (
        "https://app.example/hooks", None, "/credits/outbound", 10)
    assert DeliveryConfig.from_env({}).url is None  # no endpoint: no deliveries, nothing else required


@pytest.mark.parametrize(("raw", "expected"), [("", ()), (None, ()), ("500", (500,)), (" 500, 100 ,0", (500, 100, 0)),
                                               ("100,100", (100,))])
def test_default_thresholds_parse(raw, expected):
    assert parse_thresholds(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "1,2,3,4,5,6", "1.5", "1,,2"])
def test_bad_default_thresholds_fail_the_cold_start(raw):
    with pytest.raises(ConfigError, match="DEFAULT_ALERT_THRESHOLDS"):
        parse_thresholds(raw)


# --- EventBridgePublisher ---------------------------------------------------------------------------------------
class StubEvents:
    """put_events that fails the entries whose detail-type is in ``fail`` for the first ``times`` calls."""

    def __init__(self, fail: set[str] = frozenset(), times: int = 0) -> None:
        self.calls: list[list[dict]] = []
        self.fail, self.times = set(fail), times

    def put_events(self, Entries):
        self.calls.append(Entries)
        failing = len(self.calls) <= self.times
        out = [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if failing and e["DetailType"] in self.fail
               else {"EventId": f"id-{len(self.calls)}-{i}"} for i, e in enumerate(Entries)]
        return {"FailedEntryCount": sum("ErrorCode" in o for o in out), "Entries": out}


def events(n: int, kind: str = "credits.balance.low") -> list[DomainEvent]:
    return [DomainEvent(f"evt_{i}", kind, "T", {"user_id": "u", "i": i}) for i in range(n)]


def test_publisher_sends_at_most_ten_entries_per_call_to_the_configured_bus():
    client = StubEvents()
    EventBridgePublisher(client, "bus-1", sleep=lambda _: None).publish(events(23))
    assert [len(c) for c in client.calls] == [10, 10, 3]
    first = client.calls[0][0]
    assert (first["EventBusName"], first["Source"], first["DetailType"]) == ("bus-1", "credits", "credits.balance.low")
    assert json.loads(first["Detail"]) == {"id": "evt_0", "type": "credits.balance.low", "timestamp": "T",
                                           "data": {"user_id": "u", "i": 0}}


def test_publisher_retries_only_the_failed_entries():
    client = StubEvents(fail={"credits.purchase.fulfilled"}, times=2)
    batch = events(2) + events(1, "credits.purchase.fulfilled")
    EventBridgePublisher(client, "bus-1", sleep=lambda _: None).publish(batch)
    assert [[e["DetailType"] for e in c] for c in client.calls] == [
        ["credits.balance.low", "credits.balance.low", "credits.purchase.fulfilled"],
        ["credits.purchase.fulfilled"],
        ["credits.purchase.fulfilled"],
    ]


def test_publisher_raises_when_entries_keep_failing_so_the_record_is_retried():
    client = StubEvents(fail={"credits.balance.low"}, times=99)
    with pytest.raises(PublishFailed, match="InternalFailure"):
        EventBridgePublisher(client, "bus-1", sleep=lambda _: None).publish(events(1))
    assert len(client.calls) == 4
