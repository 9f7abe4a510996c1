"""Observability shared by the handlers: business metrics (EMF) and opt-in X-Ray SDK tracing.

The Powertools Tracer imports the X-Ray SDK, which costs about 150 ms of cold start (bench/report.md), so it is
loaded only when ``CREDITS_XRAY_SDK=true`` (template parameter XRaySdkTracing). Lambda active tracing is on either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

ENV_XRAY_SDK = "CREDITS_XRAY_SDK"
H = TypeVar("H", bound=Callable[..., Any])

metrics = Metrics(namespace="Credits", service="credits")


def count(name: str, value: int = 1) -> None:
    """Add to a count metric; flushed by ``@metrics.log_metrics`` on the handler."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def traced(handler: H) -> H:
    """Wrap a Lambda handler with the Powertools Tracer when the X-Ray SDK is switched on; else return it as is."""
    if os.environ.get(ENV_XRAY_SDK, "").lower() != "true":
        return handler
    from aws_lambda_powertools import Tracer

    return Tracer(service="credits").capture_lambda_handler(handler)  # type: ignore[return-value]
