"""GET /health, GET /credits/bundles and GET /credits/features: public, read-only, no database call."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credits.catalog import load_catalog
from credits.http import create_app, json_response
from credits.observability import metrics, traced

logger = Logger(service="credits")
app = create_app()
CATALOG = load_catalog()  # a broken catalog fails the cold start, not a request


@app.get("/health")
def health() -> Any:
    return json_response(200, {"status": "ok"})


@app.get("/credits/bundles")
def bundles() -> Any:
    return json_response(200, {"bundles": [b.public() for b in CATALOG.bundles]}, {"Cache-Control": "max-age=60"})


@app.get("/credits/features")
def features() -> Any:
    """The server-side price list: what a unit of each feature costs (consume by ``feature`` + ``quantity``)."""
    return json_response(200, {"features": [f.public() for f in CATALOG.features]}, {"Cache-Control": "max-age=60"})


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
