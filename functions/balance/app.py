"""GET /credits/balance: the caller's available, held and total credits."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.http import create_app, current_user, json_response
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.ledger()  # validate config and create the DynamoDB client during the cold start


@app.get("/credits/balance")
def get_balance() -> Any:
    return json_response(200, bootstrap.ledger().balance(current_user(app)).to_dict())


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
