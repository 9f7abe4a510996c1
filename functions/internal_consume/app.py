"""POST /internal/credits/consume (IAM-signed): a backend service spends credits on a user's behalf.

The caller is authenticated by API Gateway's IAM authorizer and must be listed in INTERNAL_PRINCIPALS (any other
principal of the account is refused with 403); the user id comes from the body here. The spend is the same domain
call as the user-facing route, with the same idempotency and balance rules.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import InternalConsumeRequest
from credits.http import create_app, idempotency_key, internal_caller, json_response, parse_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.ledger()
bootstrap.internal_access()  # a malformed INTERNAL_PRINCIPALS fails the cold start


@app.post("/internal/credits/consume")
def internal_consume() -> Any:
    caller = internal_caller(app)
    req = parse_body(app, InternalConsumeRequest)
    logger.info("internal consume", extra={"caller": caller, "user_id": req.user_id, "amount": req.amount,
                                           "feature": req.feature})
    result = bootstrap.ledger().consume(
        req.user_id, req.amount, req.description, idempotency_key(app), feature=req.feature, quantity=req.quantity,
        idempotency_scope="internal_consume", return_balance=req.return_balance,
    )
    return json_response(200, {"user_id": req.user_id, **result.to_dict()})


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
