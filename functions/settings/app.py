"""GET and PUT /credits/settings: the caller's alert thresholds and auto-recharge preferences."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.errors import InvalidRequest
from credits.http import create_app, current_user, json_response, parse_body, raw_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.settings()


@app.get("/credits/settings")
def get_settings() -> Any:
    return json_response(200, bootstrap.settings().get(current_user(app)))


@app.put("/credits/settings")
def put_settings() -> Any:
    from credits.events.requests import SettingsPatch

    user = current_user(app)
    if not raw_body(app).strip():
        raise InvalidRequest("body: send the settings to change as a JSON object ({} changes nothing).")
    patch = parse_body(app, SettingsPatch)
    return json_response(200, bootstrap.settings().update(user, patch.change()))


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
