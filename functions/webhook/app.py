"""POST /webhooks/stripe: verify Stripe's signature on the raw body, then credit/claw back exactly once.

A transient failure answers 5xx so that Stripe retries; a verified event we do not act on still answers 200.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits import bootstrap
from credits.http import create_app, json_response, raw_body
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
bootstrap.purchases(receives_webhooks=True)  # no signing secret configured = no cold start


@app.post("/webhooks/stripe")
def stripe_webhook() -> Any:
    signature = app.current_event.headers.get("stripe-signature")
    outcome = bootstrap.purchases().receive_webhook(raw_body(app), signature)
    return json_response(200, {"received": True, "outcome": outcome})


@traced
@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
