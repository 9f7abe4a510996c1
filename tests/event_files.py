"""The sample events under ``events/`` and their signer, shared by the tests that invoke handlers with them."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from local.template import ROOT

EVENTS = ROOT / "events"


def _load_signer() -> ModuleType:
    """``events/sign_webhook.py`` is a script, not a package module: loaded by path, once."""
    spec = importlib.util.spec_from_file_location("events_sign_webhook", EVENTS / "sign_webhook.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sign_webhook = _load_signer()
