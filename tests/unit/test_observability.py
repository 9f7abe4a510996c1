"""Opt-in X-Ray SDK: off by default (cold start), a real Powertools Tracer around every handler when switched on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"xray_loaded": "aws_xray_sdk" in sys.modules,
                  "wrapped": "tracing" in module.lambda_handler.__code__.co_filename}))
"""
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


def probe(function: str, xray: str | None) -> dict[str, bool]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "credits"), "TABLE_NAME": "t",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "STRIPE_SECRET_KEY": "sk_test_" + "a" * 24, "STRIPE_WEBHOOK_SECRET": "whsec_" + "b" * 24,
           "DASHBOARD_URL": "http://x", "EVENT_BUS_NAME": "bus", "OUTBOUND_WEBHOOK_URL": "",
           "DELIVERY_QUEUE_URL": "http://queue",
           "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("CREDITS_XRAY_SDK", None)
    if xray is not None:
        env["CREDITS_XRAY_SDK"] = xray
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py")],
                         env=env, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_xray_sdk_is_not_imported_by_default(function):
    assert probe(function, None) == {"xray_loaded": False, "wrapped": False}


@pytest.mark.parametrize("function", ["balance", "webhook"])
def test_xray_sdk_tracer_wraps_the_handler_when_switched_on(function):
    assert probe(function, "true") == {"xray_loaded": True, "wrapped": True}
