"""GET /credits/grants: the caller's credit lots (active ones in spend order; with status=all, the others too)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import GrantsQuery
from credits.http import create_app, current_user, json_response, parse_query
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.grants()


@app.get("/credits/grants")
def list_grants() -> Any:
    user = current_user(app)
    query = parse_query(app, GrantsQuery)
    page = bootstrap.grants().list_grants(user, status=query.status, limit=query.limit, cursor=query.cursor)
    return json_response(200, {"grants": [g.to_dict() for g in page.grants], "next_cursor": page.next_cursor})


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
