"""GET /credits/history: the caller's ledger entries, newest first, one page per call."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import HistoryQuery
from credits.http import create_app, current_user, json_response, parse_query
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.ledger()


@app.get("/credits/history")
def history() -> Any:
    user = current_user(app)
    query = parse_query(app, HistoryQuery)
    page = bootstrap.ledger().history(user, limit=query.limit, cursor=query.cursor, entry_type=query.type)
    return json_response(200, {"items": [e.to_dict() for e in page.items], "next_cursor": page.next_cursor})


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
