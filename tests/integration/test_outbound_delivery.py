"""bus -> delivery queue -> deliver function -> receiver, with the local queue's SQS semantics.

A receiver that is down gets the same event again and again (same webhook-id and body, fresh signatures), paced
by the deliver function's backoff (ChangeMessageVisibility), until the queue's maxReceiveCount moves the message
to the dead-letter queue. The deliver function is the deployed handler, loaded by file path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from webhook_receiver import Receiver

from credits import bootstrap
from credits.events.delivery import Backoff, QueueDelivery, WebhookSender
from credits.events.model import DomainEvent
from credits.events.publisher import EventBridgePublisher
from local.bus import EventLog, LocalEventBridge, LocalQueue, LocalSqsClient, QueueConsumer, Route
from local.lambda_host import FunctionPool
from local.server import DEV_OUTBOUND_SECRET
from local.template import ROOT, bus_rules, event_source_mappings, queues

MAPPING = next(m for m in event_source_mappings() if m.kind == "queue")


class DeliveryPath:
    def __init__(self, receiver: Receiver, max_receive_count: int, backoff: Backoff) -> None:
        self.dlq = LocalQueue("dlq")
        self.queue = LocalQueue("deliveries", visibility_timeout=30, max_receive_count=max_receive_count,
                                dead_letter=self.dlq)
        rule = bus_rules()[0]
        self.bus = LocalEventBridge("bus", [Route(rule.pattern, self.queue)], EventLog(None))
        delivery = QueueDelivery(WebhookSender(receiver.url, lambda: DEV_OUTBOUND_SECRET, timeout=2),
                                 sqs=LocalSqsClient([self.queue]), queue_url=self.queue.url, backoff=backoff)
        saved = bootstrap.snapshot()
        bootstrap.configure(delivery=delivery)
        try:
            self.pool = FunctionPool("DeliverFunction", ROOT / "functions" / "deliver", "app.lambda_handler")
            self.pool.warm()  # captures this delivery at import (a cold start)
        finally:
            bootstrap.restore(saved)
        self.consumer = QueueConsumer(self.queue, MAPPING, self.pool.invoke)

    def publish(self, *events: DomainEvent) -> None:
        EventBridgePublisher(self.bus, "bus").publish(list(events))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Receiver(DEV_OUTBOUND_SECRET).start()
    yield app
    app.stop()


def event(i: int = 0) -> DomainEvent:
    return DomainEvent(f"evt_test{i:028d}", "credits.purchase.fulfilled", "2026-03-04T10:00:00.000Z",
                       {"user_id": "bob", "credits": 2000, "session_id": "cs_1", "payment_intent": None,
                        "grant_id": None})


def wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_events_on_the_bus_arrive_signed_once_each_and_leave_the_queue(receiver):
    path = DeliveryPath(receiver, max_receive_count=5, backoff=Backoff(1, 1))
    path.consumer.start()
    try:
        path.publish(*(event(i) for i in range(12)))
        found = receiver.wait_for(12, timeout=10)
        wait(lambda: len(path.queue) == 0, 5)
    finally:
        path.consumer.stop()
    assert sorted(d.webhook_id for d in found) == sorted(event(i).id for i in range(12))
    assert len(receiver.deliveries) == 12 and all(d.verified for d in receiver.deliveries)
    assert len(path.dlq) == 0


def test_a_receiver_that_is_down_is_retried_with_backoff_then_dead_lettered(receiver):
    receiver.status = 503
    path = DeliveryPath(receiver, max_receive_count=3, backoff=Backoff(1, 2))
    path.consumer.start()
    try:
        path.publish(event())
        wait(lambda: len(path.dlq) == 1, 15)
    finally:
        path.consumer.stop()
    attempts = receiver.deliveries
    assert len(attempts) == 3 and all(a.verified for a in attempts)  # each attempt correctly signed
    assert {a.webhook_id for a in attempts} == {event().id} and len({a.body for a in attempts}) == 1
    gaps = [b.arrived_at - a.arrived_at for a, b in pairwise(attempts)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9  # 1 s, then 2 s: the backoff set through ChangeMessageVisibility
    assert len({a.timestamp for a in attempts}) >= 2  # re-signed with the send time
    (dead,) = path.dlq.bodies()
    assert json.loads(dead)["detail"]["id"] == event().id and len(path.queue) == 0


def test_a_receiver_that_comes_back_gets_the_event_on_the_next_attempt(receiver):
    receiver.status = 500
    path = DeliveryPath(receiver, max_receive_count=5, backoff=Backoff(1, 1))
    path.consumer.start()
    try:
        path.publish(event())
        wait(lambda: len(receiver.deliveries) == 1, 5)
        receiver.status = 204
        wait(lambda: len(path.queue) == 0, 10)
    finally:
        path.consumer.stop()
    assert [d.webhook_id for d in receiver.deliveries] == [event().id, event().id]
    assert len(path.dlq) == 0


def test_the_local_stack_queues_follow_the_template():
    specs = queues()
    assert specs["DeliveryQueue"].max_receive_count >= 3
    assert specs["DeliveryQueue"].dead_letter == "DeliveryDeadLetterQueue"
    assert specs["DeliveryQueue"].visibility_timeout >= 30
    assert MAPPING.report_item_failures and MAPPING.source == "DeliveryQueue"
