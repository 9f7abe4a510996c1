"""Holds: reserve credits, then capture (all or part) or release them; each hold resolves at most once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import CaptureRequest, HoldRequest, ReleaseRequest
from credits.http import create_app, current_user, idempotency_key, json_response, parse_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.ledger()


@app.post("/credits/holds")
def place_hold() -> Any:
    user = current_user(app)
    req = parse_body(app, HoldRequest)
    placed = bootstrap.ledger().place_hold(user, req.amount, req.ttl_seconds, req.description, idempotency_key(app))
    return json_response(200 if placed.replayed else 201, placed.to_dict())


@app.post("/credits/holds/<hold_id>/capture")
def capture(hold_id: str) -> Any:
    user = current_user(app)
    req = parse_body(app, CaptureRequest)
    resolved = bootstrap.ledger().capture_hold(user, hold_id, req.amount, idempotency_key(app))
    return json_response(200, resolved.to_dict())


@app.post("/credits/holds/<hold_id>/release")
def release(hold_id: str) -> Any:
    user = current_user(app)
    parse_body(app, ReleaseRequest)
    return json_response(200, bootstrap.ledger().release_hold(user, hold_id, idempotency_key(app)).to_dict())


@app.get("/credits/holds/<hold_id>")
def get_hold(hold_id: str) -> Any:
    return json_response(200, bootstrap.ledger().get_hold(current_user(app), hold_id).to_dict())


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
