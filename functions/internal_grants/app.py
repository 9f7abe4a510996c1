"""POST /internal/credits/grants and .../{grant_id}/void (IAM-signed): backend services give and void credit lots.

The user id comes from the body (the caller is a service, authenticated by API Gateway's IAM authorizer). Creating a
grant requires an Idempotency-Key, so a retried call never grants twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import InternalGrantRequest, VoidRequest
from credits.errors import InvalidRequest
from credits.http import create_app, idempotency_key, internal_caller, json_response, parse_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.grants()
bootstrap.internal_access()  # a malformed INTERNAL_PRINCIPALS fails the cold start


@app.post("/internal/credits/grants")
def create_grant() -> Any:
    caller = internal_caller(app)
    req = parse_body(app, InternalGrantRequest)
    key = idempotency_key(app)
    if key is None:
        raise InvalidRequest("Idempotency-Key header is required to create a grant.")
    logger.info("internal grant", extra={"caller": caller, "user_id": req.user_id, "amount": req.amount})
    created = bootstrap.grants().create_grant(
        req.user_id, req.amount, idempotency_key=key, category=req.category, priority=req.priority,
        expires_at=req.expires_at, expires_in_days=req.expires_in_days, description=req.description,
    )
    return json_response(200 if created.replayed else 201, {"user_id": req.user_id, **created.to_dict()})


@app.post("/internal/credits/grants/<grant_id>/void")
def void_grant(grant_id: str) -> Any:
    caller = internal_caller(app)
    req = parse_body(app, VoidRequest)
    logger.info("internal void", extra={"caller": caller, "user_id": req.user_id, "grant_id": grant_id})
    voided = bootstrap.grants().void_grant(req.user_id, grant_id, req.reason, idempotency_key(app))
    return json_response(200, {"user_id": req.user_id, **voided.to_dict()})


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
