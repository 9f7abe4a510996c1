"""Scheduled: fulfil recently completed Checkout sessions whose webhook never arrived, via the same idempotent path."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.observability import metrics, traced

logger = Logger(service="credits")
bootstrap.reconciler()


@traced
@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = bootstrap.reconciler().run()
    logger.info("reconciliation done", extra={"checked": result["checked"], "fixed": len(result["fulfilled"]),
                                              "objects_replayed": result["objects_replayed"]})
    return result
