"""DynamoDB stream -> usage totals and domain events on the bus, with partial batch responses.

Fed by the event source mapping in template.yaml (filtered to BALANCE and ENTRY# records, bisect on error,
on-failure destination). A record that raises is reported by its sequence number; the mapping retries from it, and
the records after it are applied again harmlessly (every effect is idempotent per record).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.observability import traced

logger = Logger(service="credits")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
consumer = bootstrap.stream_consumer()


def record_handler(record: DynamoDBRecord) -> None:
    consumer.handle(record.raw_event)


@traced
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with consumer.batch(event.get("Records") or []):
        return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)  # type: ignore[return-value]
