"""Business metrics (CloudWatch EMF through Powertools Metrics), one shared instance per process."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics(namespace="Credits", service="credits")


def count(name: str, value: int = 1) -> None:
    """Add to a count metric; flushed by ``@metrics.log_metrics`` on the handler."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
