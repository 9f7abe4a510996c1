"""The package builds into a typed wheel with the documented name, dependencies and extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import credits_client as cc

PROJECT = Path(__file__).resolve().parents[1]


def test_the_wheel_is_typed_and_declares_its_dependencies(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "tests",
                                                                "__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                          "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("credits_client-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert {"credits_client/py.typed", "credits_client/__init__.py", "credits_client/admin.py"} <= names
    assert not any(n.startswith("tests/") for n in names)
    assert "Name: credits-client" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("httpx" in r for r in requires) and any("standardwebhooks" in r for r in requires)
    assert any("botocore" in r and 'extra == "aws"' in r for r in requires)
    assert not any("botocore" in r and "extra" not in r for r in requires)  # botocore only with [aws]
    assert "Provides-Extra: aws" in metadata


def test_every_public_name_is_importable_from_the_top_level_package() -> None:
    for name in cc.__all__:
        assert getattr(cc, name) is not None, name
    for name in ("CreditsClient", "AsyncCreditsClient", "CreditsAdminClient", "WebhookVerifier", "CreditsError",
                 "InsufficientCredits", "IdempotencyKeyReused", "NotFound", "Unauthorized", "Forbidden",
                 "InvalidRequest", "HoldNotPending", "ServiceUnavailable"):
        assert name in cc.__all__, name
