"""HTTP edge shared by every handler: the resolver with error mapping, body/query parsing, caller identity.

Every failure leaves as the contract's envelope ``{"error": {"code", "message"}}``; unexpected exceptions are
logged with their stack trace, counted (metric ``UnhandledErrors``, alarmed: the handler returns normally, so Lambda
records no error) and answered with a generic 500 that carries neither trace nor data. Every handler therefore needs
``@metrics.log_metrics``, which flushes that count.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from credits.claims import claims_problem
from credits.errors import CreditsError, Forbidden, InvalidRequest, NotFound, PayloadTooLarge, Unauthorized
from credits.models import MAX_IDEMPOTENCY_KEY
from credits.observability import count, metrics

UNHANDLED_ERRORS_METRIC = "UnhandledErrors"

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
M = TypeVar("M", bound="BaseModel")

if TYPE_CHECKING:  # pydantic is imported by the routes that parse input, not at every cold start
    from pydantic import BaseModel, ValidationError

    from credits.config import InternalAccess

logger = Logger(service="credits")


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _error(exc: CreditsError) -> Response[str]:
    return json_response(exc.status, exc.envelope())


def create_app() -> APIGatewayHttpResolver:
    """A resolver whose errors all map once, here, to the envelope (handlers never build error bodies)."""
    app = APIGatewayHttpResolver()

    @app.exception_handler(CreditsError)
    def _credits_error(exc: CreditsError) -> Response[str]:
        if exc.status >= 500:
            logger.warning("request failed", extra={"code": exc.code, "status": exc.status})
        return _error(exc)

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _error(NotFound("No such route."))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        route = app.current_event.route_key if app.current_event else None
        logger.exception("unhandled error", extra={"route": route})
        metrics.add_metadata(key="route", value=route or "")
        count(UNHANDLED_ERRORS_METRIC)
        return json_response(500, {"error": {"code": "internal_error", "message": "Internal error; please retry."}})

    return app


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        field = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


def current_user(app: APIGatewayHttpResolver) -> str:
    """The caller is the verified JWT's ``sub`` (API Gateway's authorizer put it there), never a body field.

    API Gateway checked the signature and expiry; the claims' shape is checked here too (credits.claims), so an
    ill-formed ``sub`` or ``exp`` is a 401, never a 500 further down.
    """
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    if not claims:
        raise Unauthorized("A valid bearer token is required.")
    problem = claims_problem(claims, as_text=True)  # API Gateway passes every claim as text
    if problem:
        raise Unauthorized(f"A valid bearer token is required: {problem}.")
    return str(claims["sub"])


def internal_caller(app: APIGatewayHttpResolver, access: InternalAccess | None = None) -> str:
    """The IAM caller of an /internal/ route (its ARN as API Gateway verified it), if INTERNAL_PRINCIPALS lists it.

    Raises Forbidden (403) for any other caller, and for every caller while the list is empty. An assumed-role
    session counts as its role (credits.config.principal_key).
    """
    from credits import bootstrap

    access = access or bootstrap.internal_access()
    authorizer = app.current_event.request_context.authorizer
    arn = (authorizer.iam.user_arn if authorizer and authorizer.iam else None) or None
    if not access.allows(arn):
        logger.warning("internal caller refused", extra={"caller": arn})
        raise Forbidden("This IAM principal may not call internal routes (see InternalPrincipalArns).")
    return str(arn)


def current_claims(app: APIGatewayHttpResolver) -> dict[str, Any]:
    authorizer = app.current_event.request_context.authorizer
    return dict((authorizer.jwt_claim if authorizer else None) or {})


def raw_body(app: APIGatewayHttpResolver) -> bytes:
    """The exact bytes the client sent (API Gateway may have base64-encoded them)."""
    event = app.current_event
    body = event.body or ""
    try:
        data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except ValueError as exc:
        raise InvalidRequest("body: request body is not valid base64.") from exc
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes.")
    return data


def parse_body(app: APIGatewayHttpResolver, model: type[M]) -> M:
    data = raw_body(app)
    if not data.strip():
        payload: Any = {}
    else:
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise InvalidRequest("body: request body must be valid JSON.") from exc
    if not isinstance(payload, dict):
        raise InvalidRequest("body: request body must be a JSON object.")
    return _validate(model, payload, strict=True)


def parse_query(app: APIGatewayHttpResolver, model: type[M]) -> M:
    """Query values arrive as strings; lax mode turns "25" into 25 while the model's bounds still apply."""
    params = app.current_event.query_string_parameters or {}
    return _validate(model, dict(params), strict=False)


def _validate(model: type[M], payload: dict[str, Any], *, strict: bool) -> M:
    from pydantic import ValidationError

    try:
        return model.model_validate(payload, strict=strict)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from exc


def idempotency_key(app: APIGatewayHttpResolver) -> str | None:
    key = app.current_event.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(f"Idempotency-Key header must be 1-{MAX_IDEMPOTENCY_KEY} characters.")
    return key
