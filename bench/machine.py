"""Facts about the machine and the software the figures came from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _ddb_local() -> dict[str, Any]:
    try:
        from local.dynamodb_local import jar_dir

        d = jar_dir()
    except Exception as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {"jar_dir": d.name}
    try:
        with zipfile.ZipFile(d / "DynamoDBLocal.jar") as z:
            props = z.read("META-INF/maven/software/amazon/dynamodb/DynamoDBLocal/pom.properties").decode()
        out["version"] = dict(line.split("=", 1) for line in props.splitlines() if "=" in line).get("version")
    except (OSError, KeyError) as exc:
        out["version_error"] = str(exc)
    try:
        import json

        pkg = json.loads((d.parent.parent / "package.json").read_text())
        out["npm_package"] = f"{pkg.get('name')}@{pkg.get('version')}"
    except (OSError, ValueError):
        pass
    return out


def _cmd(*args: str) -> str | None:
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (p.stdout + p.stderr).strip() or None


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def git_head() -> str | None:
    return _cmd("git", "rev-parse", "--short", "HEAD")


def facts() -> dict[str, Any]:
    java = _cmd("java", "-version")
    head = git_head()
    dirty = _cmd("git", "status", "--porcelain", "--untracked-files=no", "--", "layers", "functions", "local")
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "java": java.splitlines()[0] if java else None,
        "dynamodb_local": _ddb_local(),
        "packages": {d: _version(d) for d in ("boto3", "botocore", "aws-lambda-powertools", "pydantic", "stripe")},
        "git_head": head,
        "product_code_modified_in_worktree": bool(dirty),
        "load_average": load_average(),
    }
