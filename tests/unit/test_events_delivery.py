"""Outbound webhooks are Standard Webhooks: signed by standardwebhooks, verifiable by any receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from webhook_receiver import Receiver

from credits.events.delivery import Backoff, DeliveryFailed, WebhookSender, event_from_sqs_record
from credits.events.model import DomainEvent
from local.dynamodb_local import free_port
from local.server import DEV_OUTBOUND_SECRET

EVENT = DomainEvent("evt_0123456789abcdef0123456789abcdef", "credits.balance.low", "2026-03-04T10:00:00.000Z",
                    {"user_id": "alice", "available": 40, "threshold": 50})


@pytest.fixture
def receiver():
    app = Receiver(DEV_OUTBOUND_SECRET).start()
    yield app
    app.stop()


def test_a_delivery_verifies_with_standardwebhooks_and_carries_the_event(receiver):
    WebhookSender(receiver.url, lambda: DEV_OUTBOUND_SECRET).send(EVENT)
    (delivery,) = receiver.deliveries
    assert delivery.verified and delivery.webhook_id == EVENT.id
    assert delivery.event == {"type": "credits.balance.low", "timestamp": "2026-03-04T10:00:00.000Z",
                              "data": {"user_id": "alice", "available": 40, "threshold": 50}}


def test_headers_are_the_spec_ones_and_only_the_right_secret_verifies():
    sender = WebhookSender("http://127.0.0.1:9/", lambda: DEV_OUTBOUND_SECRET)
    body = EVENT.body_json()
    headers = sender.headers(EVENT, body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(DEV_OUTBOUND_SECRET).verify(body, headers)["data"]["threshold"] == 50
    other = "whsec_" + "QUJD" * 8
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEV_OUTBOUND_SECRET).verify(body.replace("40", "41"), headers)


def test_every_attempt_has_the_same_id_and_body_and_a_fresh_timestamp():
    now = [datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)]
    sender = WebhookSender("http://127.0.0.1:9/", lambda: DEV_OUTBOUND_SECRET, clock=lambda: now[0])
    first = sender.headers(EVENT, EVENT.body_json())
    now[0] += timedelta(minutes=7)
    second = sender.headers(EVENT, EVENT.body_json())
    assert first["webhook-id"] == second["webhook-id"] == EVENT.id
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 420
    assert first["webhook-signature"] != second["webhook-signature"]
    # Receivers refuse timestamps older than 5 minutes: a retry signed with the first timestamp would be lost.
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(DEV_OUTBOUND_SECRET).verify(EVENT.body_json(), first)


def test_the_body_is_canonical_json_whatever_the_key_order_it_travelled_in():
    shuffled = DomainEvent(EVENT.id, EVENT.type, EVENT.timestamp, dict(reversed(list(EVENT.data.items()))))
    assert shuffled.body_json() == EVENT.body_json()
    assert json.loads(EVENT.body_json()) == EVENT.body()


def test_non_2xx_redirects_and_unreachable_endpoints_are_failed_attempts(receiver):
    receiver.status = 503
    with pytest.raises(DeliveryFailed, match="HTTP 503"):
        WebhookSender(receiver.url, lambda: DEV_OUTBOUND_SECRET).send(EVENT)
    receiver.status = 302
    with pytest.raises(DeliveryFailed, match="HTTP 302"):
        WebhookSender(receiver.url, lambda: DEV_OUTBOUND_SECRET).send(EVENT)
    with pytest.raises(DeliveryFailed, match="unreachable"):
        WebhookSender(f"http://127.0.0.1:{free_port()}/x?token=s3cret", lambda: DEV_OUTBOUND_SECRET,
                      timeout=2).send(EVENT)


def test_failure_messages_never_carry_the_url_query_or_the_secret(receiver):
    receiver.status = 500
    with pytest.raises(DeliveryFailed) as info:
        WebhookSender(receiver.url + "?token=s3cret", lambda: DEV_OUTBOUND_SECRET).send(EVENT)
    assert "s3cret" not in str(info.value) and DEV_OUTBOUND_SECRET not in str(info.value)


def test_backoff_doubles_from_the_base_and_is_capped():
    backoff = Backoff(10, 3600)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 9, 10, 50)] == [10, 20, 40, 80, 2560, 3600, 3600]


def test_the_event_is_read_from_the_eventbridge_envelope_of_the_sqs_record():
    envelope = {"version": "0", "id": "eb-1", "detail-type": EVENT.type, "source": "credits", "detail":
                EVENT.envelope()}
    assert event_from_sqs_record({"body": json.dumps(envelope)}) == EVENT
