"""GET /credits/usage: credits spent per UTC day or per feature, from the monthly aggregates (one Query)."""

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
bootstrap.usage()


@app.get("/credits/usage")
def usage() -> Any:
    user = current_user(app)
    query = app.current_event.query_string_parameters or {}
    report = bootstrap.usage().report(
        user, from_day=query.get("from"), to_day=query.get("to"), group_by=query.get("group_by")
    )
    return json_response(200, report)


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
