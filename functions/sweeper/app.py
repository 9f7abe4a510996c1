"""Scheduled: settle pending holds past their expiry so the table reflects what users already see."""

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
    settled = bootstrap.ledger().sweep_expired_holds()
    logger.info("expired holds settled", extra={"settled": settled})
    return {"settled": settled}
