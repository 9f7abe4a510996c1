"""The local change path: table stream -> events function -> bus -> delivery queue -> deliver function.

Composed from template.yaml (mappings, queues, the bus rule and its condition) with the in-process pieces of
``local.streams`` and ``local.bus``; the functions are the deployed ones, invoked through the same function pools
as the HTTP routes. ``LocalStack`` owns one ``ChangePath``: ``env()`` before the functions load, ``wire()`` before
they warm, ``start()`` / ``stop()`` with the stack, ``events()`` for ``GET /_local/events``. Everything is
in-process: nothing listens on a port.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.bus import EventLog, LocalEventBridge, LocalQueue, LocalSqsClient, QueueConsumer, Route, queue_url
from local.lambda_host import FunctionPool
from local.scheduler import Scheduler
from local.streams import PositionStore, StreamPoller
from local.template import (
    bus_rules,
    ensure_stream,
    event_source_mappings,
    function_environment,
    function_timeout,
    queues,
)

log = logging.getLogger("local.change_path")
BUS_NAME = "credits-local"
DELIVERY_FUNCTION = "DeliverFunction"


@dataclass(frozen=True)
class ChangePathConfig:
    table_name: str
    dynamodb_endpoint: str
    region: str = "us-east-1"
    data_dir: Path | None = None  # None = positions, queues and the event log in memory only
    outbound_webhook_url: str | None = None
    outbound_webhook_secret: str | None = None
    default_alert_thresholds: str = ""
    schedule_seconds: float | None = None  # None = the scheduled functions run on demand only
    poll_interval: float = 0.25

    @property
    def state_dir(self) -> Path | None:
        return self.data_dir / "change-path" if self.data_dir else None

    def conditions(self) -> dict[str, bool]:
        """The template's conditions that decide what exists locally."""
        return {"HasOutboundWebhook": bool(self.outbound_webhook_url)}


def env(config: ChangePathConfig) -> dict[str, str]:
    """Environment of the events and deliver functions: the template's literal values plus what it would !Ref."""
    values = {**function_environment("EventsFunction"), **function_environment(DELIVERY_FUNCTION)}
    values |= {
        "EVENT_BUS_NAME": BUS_NAME,
        "DEFAULT_ALERT_THRESHOLDS": config.default_alert_thresholds,
        "OUTBOUND_WEBHOOK_URL": config.outbound_webhook_url or "",
        "OUTBOUND_WEBHOOK_SECRET": config.outbound_webhook_secret or "",
        "OUTBOUND_WEBHOOK_SECRET_PARAM": "",
        "DELIVERY_QUEUE_URL": queue_url("DeliveryQueue"),
        "RECHARGE_QUEUE_URL": queue_url("RechargeQueue"),
        # The local stack reads the pacing from its own environment (the template's RechargeRetrySeconds deployed).
        "RECHARGE_RETRY_SECONDS": os.environ.get("RECHARGE_RETRY_SECONDS") or "3600",
    }
    return values


class ChangePath:
    def __init__(self, config: ChangePathConfig, invoke_scheduled: Callable[[str], Any],
                 scheduled: list[str]) -> None:
        import boto3

        self.config = config
        state = config.state_dir
        self.mappings = {m.name: m for m in event_source_mappings()}
        # Each function keeps its template Timeout locally too (as the HTTP routes' pools do).
        self.pools = {m.function: FunctionPool(m.function, m.code_dir, m.handler,
                                               timeout=function_timeout(m.function))
                      for m in self.mappings.values()}
        self.queues: dict[str, LocalQueue] = {}
        for spec in sorted(queues().values(), key=lambda q: q.dead_letter is not None):  # dead-letter queues first
            self.queues[spec.name] = LocalQueue(
                spec.name,
                visibility_timeout=spec.visibility_timeout,
                max_receive_count=spec.max_receive_count,
                dead_letter=self.queues.get(spec.dead_letter) if spec.dead_letter else None,
                state_path=state / "queues" / f"{spec.name}.json" if state else None,
                region=config.region,
            )
        conditions = config.conditions()
        routes = [Route(rule.pattern, self.queues[q]) for rule in bus_rules()
                  if rule.condition is None or conditions.get(rule.condition, False) for q in rule.target_queues]
        self.event_log = EventLog(state / "events.jsonl" if state else None)
        self.bus = LocalEventBridge(BUS_NAME, routes, self.event_log, region=config.region)
        self.sqs = LocalSqsClient(list(self.queues.values()))
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                        region_name=config.region)
        self.ddb = session.client("dynamodb", endpoint_url=config.dynamodb_endpoint)
        streams = session.client("dynamodbstreams", endpoint_url=config.dynamodb_endpoint)
        positions = PositionStore(state / "stream-position.json" if state else None)
        self.pollers = [
            StreamPoller(ddb=self.ddb, streams=streams, table_name=config.table_name, mapping=m,
                         invoke=self.pools[m.function].invoke, positions=positions, region=config.region,
                         poll_interval=config.poll_interval, on_failure=self._on_failure_sink(m.on_failure))
            for m in self.mappings.values() if m.kind == "stream"
        ]
        self.consumers = [QueueConsumer(self.queues[m.source], m, self.pools[m.function].invoke)
                          for m in self.mappings.values() if m.kind == "queue"]
        self.scheduler = (Scheduler(scheduled, invoke_scheduled, config.schedule_seconds)
                          if config.schedule_seconds else None)

    def _on_failure_sink(self, destination: str | None) -> Callable[[dict[str, Any]], None] | None:
        if destination is None or destination not in self.queues:
            return None
        queue = self.queues[destination]
        return lambda info: queue.send(json.dumps(info))

    def wire(self) -> None:
        """Hand the in-process bus and queue to the functions, as their EventBridge and SQS clients."""
        from credits import bootstrap

        bootstrap.configure(eventbridge_client=self.bus, sqs_client=self.sqs)

    def start(self) -> None:
        ensure_stream(self.ddb, self.config.table_name)  # a table found without a stream gets one
        for part in [*self.pollers, *self.consumers, *([self.scheduler] if self.scheduler else [])]:
            part.start()

    def stop(self) -> None:
        for part in [*([self.scheduler] if self.scheduler else []), *self.pollers, *self.consumers]:
            part.stop()

    def events(self, user_id: str | None = None) -> list[dict[str, Any]]:
        return self.event_log.newest_first(user_id)
