"""Outbound webhooks (Standard Webhooks): sign with ``standardwebhooks``, POST, back off through SQS on failure.

Every attempt of one event carries the same ``webhook-id`` (the event's id) and the same body bytes (canonical
JSON), re-signed with a fresh ``webhook-timestamp`` (receivers reject timestamps older than 5 minutes). SQS has no
per-message backoff, so a failed attempt sets the message's visibility to the next delay itself
(``ChangeMessageVisibility``) and reports the item failure; after the queue's ``maxReceiveCount`` receives the
message moves to the dead-letter queue (alarmed).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

from credits.events.config import MAX_VISIBILITY_SECONDS
from credits.events.model import DomainEvent

logger = Logger(service="credits")
USER_AGENT = "credits-webhooks/1"


class DeliveryFailed(Exception):
    """The endpoint did not answer 2xx in time. The message is safe to log (no URL query, no secret)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET elsewhere: treat it as a failed attempt instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSender:
    """POSTs one event to the operator's endpoint. ``secret`` is a callable so a rotated secret is picked up."""

    def __init__(
        self,
        url: str,
        secret: Callable[[], str],
        *,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.clock = clock
        self.opener = opener or urllib.request.build_opener(_NoRedirects)
        self.host = urlsplit(url).netloc

    def headers(self, event: DomainEvent, body: str) -> dict[str, str]:
        from standardwebhooks.webhooks import Webhook

        sent_at = self.clock().replace(microsecond=0)
        return {
            "webhook-id": event.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(self.secret()).sign(event.id, sent_at, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }

    def send(self, event: DomainEvent) -> int:
        body = event.body_json()
        request = urllib.request.Request(  # the operator's configured http(s) URL
            self.url, data=body.encode("utf-8"), headers=self.headers(event, body), method="POST"
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                response.read(64 * 1024)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"{self.host} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(f"{self.host} unreachable ({type(reason).__name__})") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{self.host} answered HTTP {status}")
        return status


@dataclass(frozen=True)
class Backoff:
    """Delay before receive ``n + 1`` after a failed receive ``n``: base, 2 x base, 4 x base... capped."""

    base_seconds: int
    max_seconds: int

    def delay(self, receive_count: int) -> int:
        exponent = max(0, min(receive_count - 1, 30))
        return int(min(self.max_seconds, MAX_VISIBILITY_SECONDS, self.base_seconds * 2**exponent))


def event_from_sqs_record(record: Mapping[str, Any]) -> DomainEvent:
    """The domain event inside an SQS record whose body is the EventBridge event (the rule's target input)."""
    body = json.loads(record["body"])
    return DomainEvent.from_envelope(body["detail"] if "detail-type" in body else body)


class QueueDelivery:
    """The deliver function's work for one SQS record. Raises on failure so the batch reports that item."""

    def __init__(self, sender: WebhookSender | None, *, sqs: Any, queue_url: str | None, backoff: Backoff) -> None:
        self.sender = sender
        self.sqs = sqs
        self.queue_url = queue_url
        self.backoff = backoff

    def deliver(self, record: Mapping[str, Any]) -> None:
        event = event_from_sqs_record(record)
        log = {"event_id": event.id, "type": event.type, "message_id": record.get("messageId")}
        if self.sender is None:
            logger.info("no OutboundWebhookUrl configured: event not delivered", extra=log)
            return
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
        try:
            status = self.sender.send(event)
        except DeliveryFailed as exc:
            delay = self.backoff.delay(receives)
            logger.warning("webhook delivery failed", extra={**log, "reason": str(exc), "receives": receives,
                                                               "retry_in_s": delay})
            self._postpone(record, delay)
            raise
        logger.info("webhook delivered", extra={**log, "status": status, "receives": receives})

    def _postpone(self, record: Mapping[str, Any], delay: int) -> None:
        if self.sqs is None or not self.queue_url or not record.get("receiptHandle"):
            return
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay
            )
        except Exception:  # noqa: BLE001 - the queue's own visibility timeout then paces the retry
            logger.warning("could not postpone the message; the queue's visibility timeout applies")
