"""Scheduled: record expiries of users who make no request (grants and holds), and tidy settled holds.

Users already see these as expired on their next read; this makes the ledger (and the events derived from it) say so
within a few minutes of ``expires_at`` even when nobody asks.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.observability import metrics, traced

logger = Logger(service="credits")
bootstrap.ledger()


@traced
@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = bootstrap.engine().sweep()
    logger.info("sweep done", extra=result)
    return result
