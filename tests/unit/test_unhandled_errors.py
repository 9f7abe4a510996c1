"""A crash inside a route is answered with the envelope's 500 and counted where an alarm sees it.

Lambda records no error when the handler returns a 500 normally, so the resolver's error path adds the metric
UnhandledErrors (alarmed by UnhandledErrorsAlarm) and ``@metrics.log_metrics`` flushes it as EMF on stdout, which is
what CloudWatch turns into the metric. Each route is made to crash by injecting a service whose every call raises.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from credits import bootstrap
from credits.config import InternalAccess
from credits.observability import metrics
from local.lambda_host import FunctionPool, decode_response
from local.template import ROOT, http_routes, load_template

EVENTS = ROOT / "events"
EVENTS_CALLER = "arn:aws:iam::123456789012:role/billing-worker"  # events/internal_consume/ok.json's caller


class Exploding:
    """Stands in for a domain service (ledger, grants, purchases, settings, usage): every call raises, as a bug deep
    in the domain would."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"injected failure in {name}")

        return fail


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents Powertools printed: {"_aws": {...}, "<metric>": value, "<dimension>": value, ...}."""
    docs = []
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            docs.append(doc)
    return docs


def unhandled_count(stdout: str) -> int:
    total = 0
    for doc in emf_metrics(stdout):
        names = {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        namespaces = {d["Namespace"] for d in doc["_aws"]["CloudWatchMetrics"]}
        if "UnhandledErrors" in names:
            assert namespaces == {"Credits"} and doc["service"] == "credits"  # what UnhandledErrorsAlarm watches
            value = doc["UnhandledErrors"]
            total += int(sum(value) if isinstance(value, list) else value)
    return total


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # The local stack switches EMF off for its own process; these tests need the real output.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_" + "a" * 32)  # the webhook's cold start wants a source
    metrics.clear_metrics()  # Powertools keeps one store per process: drop what earlier tests left unflushed


def call(function_dir: str, event_file: str) -> tuple[int, dict[str, Any]]:
    props = load_template()["Resources"]
    logical_id = next(k for k, v in props.items() if v.get("Properties", {}).get("CodeUri") == f"functions/{function_dir}/")
    pool = FunctionPool(logical_id, ROOT / "functions" / function_dir, "app.lambda_handler")
    event = json.loads((EVENTS / event_file).read_text(encoding="utf-8"))
    status, _, body = decode_response(pool.invoke(event))
    return status, json.loads(body)


CRASHING_ROUTES = [
    ("balance", "balance/get.json"),
    ("history", "history/page.json"),
    ("consume", "consume/ok.json"),
    ("holds", "holds/place.json"),
    ("purchase", "purchase/start.json"),
    ("webhook", "webhook/bad_signature.json"),
    ("internal_consume", "internal_consume/ok.json"),
    ("grants", "grants/active.json"),
    ("internal_grants", "internal_grants/create.json"),
    ("settings", "settings/get.json"),
    ("settings", "settings/put.json"),
    ("usage", "usage/get.json"),
]


@pytest.mark.parametrize(("function_dir", "event_file"), CRASHING_ROUTES)
def test_a_crashing_route_answers_the_500_envelope_and_moves_the_unhandled_errors_metric(
    metrics_on, capsys, function_dir, event_file
):
    services = {"ledger": Exploding(), "purchases": Exploding(), "grants": Exploding(), "settings": Exploding(),
                "usage": Exploding(), "internal_access": InternalAccess(frozenset({EVENTS_CALLER}))}
    with bootstrap.override(**services):
        status, body = call(function_dir, event_file)
    assert (status, body["error"]["code"]) == (500, "internal_error")
    assert "injected failure" not in json.dumps(body)  # the trace and message stay in the logs
    assert unhandled_count(capsys.readouterr().out) == 1


def test_a_client_error_does_not_count_as_unhandled(metrics_on, capsys):
    with bootstrap.override(ledger=Exploding()):
        status, _ = call("consume", "consume/no_token.json")  # 401 before the ledger is touched
    assert status == 401
    assert unhandled_count(capsys.readouterr().out) == 0


def _decorators(app_py: Path) -> list[str]:
    tree = ast.parse(app_py.read_text(encoding="utf-8"))
    handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler")
    return [ast.unparse(d) for d in handler.decorator_list]


@pytest.mark.parametrize("code_dir", sorted({r.code_dir for r in http_routes()}), ids=lambda p: p.name)
def test_every_http_handler_flushes_metrics(code_dir):
    # Without @metrics.log_metrics the count stays in memory and never reaches CloudWatch (catalog included:
    # it has no injectable service, so this is its guarantee).
    assert "metrics.log_metrics" in _decorators(code_dir / "app.py")
