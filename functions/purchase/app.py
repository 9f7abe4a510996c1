"""POST /credits/purchase starts Stripe Checkout for a bundle; GET /credits/purchases/{id} reports its status."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.api import PurchaseRequest
from credits.http import create_app, current_claims, current_user, idempotency_key, json_response, parse_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.purchases()


@app.post("/credits/purchase")
def purchase() -> Any:
    user = current_user(app)
    req = parse_body(app, PurchaseRequest)
    email = current_claims(app).get("email")
    started = bootstrap.purchases().start_checkout(
        user, req.bundle, email=email if isinstance(email, str) else None, idempotency_key=idempotency_key(app),
        save_payment_method=req.save_payment_method,
    )
    return json_response(200, {"url": started.url, "session_id": started.session_id, "replayed": started.replayed})


@app.get("/credits/purchases/<session_id>")
def purchase_status(session_id: str) -> Any:
    return json_response(200, bootstrap.purchases().purchase_status(current_user(app), session_id).to_dict())


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
