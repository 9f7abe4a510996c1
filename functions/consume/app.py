"""POST /credits/consume: spend the caller's credits once per Idempotency-Key."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import ConsumeRequest
from credits.http import create_app, current_user, idempotency_key, json_response, parse_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.ledger()


@app.post("/credits/consume")
def consume() -> Any:
    user = current_user(app)
    req = parse_body(app, ConsumeRequest)
    result = bootstrap.ledger().consume(
        user, req.amount, req.description, idempotency_key(app), feature=req.feature, quantity=req.quantity,
        return_balance=req.return_balance,
    )
    return json_response(200, result.to_dict())


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
