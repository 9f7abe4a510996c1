"""SQS (a recharge requested by the change path) -> one off-session charge, credited once.

The charge's idempotency key is derived from the user and the recharge id, and the PaymentIntent id is stored as
soon as Stripe answers, so a retried message (a crash, a timeout, a duplicate) returns the same PaymentIntent and
credits once. A failed item is reported by the partial batch response and retried; after the queue's
maxReceiveCount it goes to the dead-letter queue (alarmed), and reconciliation runs what stayed in flight.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.observability import count, metrics, traced

logger = Logger(service="credits")
processor = BatchProcessor(event_type=EventType.SQS)
bootstrap.purchases()  # the Stripe key is checked at cold start
recharges = bootstrap.recharge()


def _job(body: str) -> tuple[str, str] | None:
    try:
        job = json.loads(body)
    except ValueError:
        return None
    if not isinstance(job, dict):
        return None
    user_id, recharge_id = job.get("user_id"), job.get("recharge_id")
    if not isinstance(user_id, str) or not isinstance(recharge_id, str) or not user_id or not recharge_id:
        return None
    return user_id, recharge_id


def record_handler(record: SQSRecord) -> None:
    job = _job(record.body)
    if job is None:
        # Only the events function writes to this queue; a message it did not write can never succeed, so retrying
        # it until the dead-letter queue would only hide real failures there. Logged (without the body) and dropped.
        logger.error("recharge message is not a recharge job: dropped", extra={"message_id": record.message_id})
        count("RechargeMessagesRejected")
        return
    user_id, recharge_id = job
    outcome = recharges.execute(user_id, recharge_id)
    logger.info("recharge executed", extra={"user_id": user_id, "recharge_id": recharge_id, "outcome": outcome})


@traced
@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)  # type: ignore[return-value]
