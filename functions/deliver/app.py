"""SQS (fed by the bus rule) -> signed POST to the operator's endpoint; failures back off and are reported.

A failed item sets its own visibility (exponential backoff) and is named in the partial batch response; after the
queue's maxReceiveCount receives it moves to the dead-letter queue. Every retry of one event carries the same
webhook-id and body, re-signed with a fresh timestamp.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.observability import traced

logger = Logger(service="credits")
processor = BatchProcessor(event_type=EventType.SQS)
delivery = bootstrap.delivery()  # no valid secret for a configured URL = no cold start


def record_handler(record: SQSRecord) -> None:
    delivery.deliver(record.raw_event)


@traced
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)  # type: ignore[return-value]
