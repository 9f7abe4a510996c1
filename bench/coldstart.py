"""Cold init of each Lambda handler, measured in fresh ``python`` processes (import + first client).

Each sample is one new interpreter that imports the function's ``app.py`` by file path (as local/lambda_host.py
does, and as Lambda's runtime imports the handler module); handlers build their DynamoDB client (and, for the
purchase/webhook/reconcile functions, the PurchaseService) at import through ``credits.bootstrap``. The clock
starts after interpreter start-up, so every figure is init work only; the floor is ``import boto3;
boto3.client('dynamodb')`` measured the same way. Samples are taken round-robin so drift hits all alike; one
discarded warm-up per target first (fills the .pyc cache, as a deployed package would have it). The ratio to the
floor is the median over the floor's median, with the min-max of the per-round ratios (each round's sample over
that round's floor sample).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.services import BENCH_DASHBOARD_URL, BENCH_STRIPE_KEY, BENCH_WEBHOOK_SECRET
from bench.stats import spread

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["catalog", "balance", "history", "consume", "holds", "purchase", "webhook", "reconcile", "sweeper"]
FLOOR = "floor"

_PRELUDE = "import time, importlib.util, sys\n_t0 = time.perf_counter()\n_c0 = time.process_time()\n"
_EPILOGUE = (
    "_t1 = time.perf_counter()\n_c1 = time.process_time()\n"
    "sys.stdout.write('INIT_MS=%.3f CPU_MS=%.3f\\n' % ((_t1 - _t0) * 1000, (_c1 - _c0) * 1000))\n"
)


# Diagnostic prelude: remember who first imports each top-level package (the innermost non-importlib frames).
_WHO = r"""
import sys
_seen = set()
class _Who:  # a meta path finder that finds nothing and imports nothing itself (no perturbation of the timings)
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in _seen:
            return None
        _seen.add(top)
        chain, f = [], sys._getframe(1)
        while f is not None and len(chain) < 3:
            fn = f.f_code.co_filename
            if "importlib" not in fn and fn != "<string>":
                chain.append(f"{fn.split('site-packages/')[-1].split('/work/main/')[-1]}:{f.f_lineno}")
            f = f.f_back
        sys.stderr.write(f"IMPORTED_BY {top} {' <- '.join(chain)}\n")
        return None
sys.meta_path.insert(0, _Who())
"""


def _script(target: str, who: bool = False) -> str:
    if target == FLOOR:
        body = "import boto3\nboto3.client('dynamodb')\n"
    else:
        path = ROOT / "functions" / target / "app.py"
        body = (
            f"_spec = importlib.util.spec_from_file_location('app', {str(path)!r})\n"
            "_mod = importlib.util.module_from_spec(_spec)\n"
            "sys.modules['app'] = _mod\n"
            "_spec.loader.exec_module(_mod)\n"
        )
    return (_WHO if who else "") + _PRELUDE + body + _EPILOGUE


def handler_env(table: str, endpoint: str) -> dict[str, str]:
    """A Lambda-like environment: only what the template and the brief give a function, nothing inherited."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'credits'}",
        "TABLE_NAME": table,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        # shaped like real values: the functions check them at cold start (and never call Stripe here)
        "STRIPE_SECRET_KEY": BENCH_STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": BENCH_WEBHOOK_SECRET,
        "DASHBOARD_URL": BENCH_DASHBOARD_URL,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # template.yaml Globals
        "POWERTOOLS_SERVICE_NAME": "credits",
        "POWERTOOLS_METRICS_NAMESPACE": "Credits",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _run(target: str, env: dict[str, str], *extra: str, who: bool = False) -> tuple[float, float, float, str]:
    """(init wall ms, init CPU ms, whole-process wall ms, stderr) of one fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *extra, "-c", _script(target, who)], env=env, capture_output=True, text=True, timeout=60
    )
    wall = (time.perf_counter() - start) * 1000
    m = re.search(r"INIT_MS=([0-9.]+) CPU_MS=([0-9.]+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"cold init of {target} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return float(m.group(1)), float(m.group(2)), wall, proc.stderr


def _top_imports(stderr: str, top: int = 8) -> list[dict[str, Any]]:
    """Import time by top-level package (sum of each module's *self* time) from ``python -X importtime``,
    with the code that first imported the package."""
    who: dict[str, str] = {m.group(1): m.group(2) for m in re.finditer(r"^IMPORTED_BY (\S+) (.*)$", stderr, re.M)}
    by_package: dict[str, int] = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            package = m.group(3).split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(m.group(1))
    ordered = sorted(by_package.items(), key=lambda kv: -kv[1])
    return [{"package": k, "self_ms": round(v / 1000, 1), "imported_by": who.get(k, "")} for k, v in ordered[:top]]


def _median_imports(stderrs: list[str], top: int = 8) -> list[dict[str, Any]]:
    """Per package, the median over several -X importtime runs (one run is too noisy on a busy machine)."""
    import statistics

    runs = [{r["package"]: r for r in _top_imports(e, top=1000)} for e in stderrs]
    packages = set().union(*runs)
    rows = []
    for p in packages:
        vals = [run[p]["self_ms"] if p in run else 0.0 for run in runs]
        who = next((run[p]["imported_by"] for run in runs if p in run and run[p]["imported_by"]), "")
        rows.append({"package": p, "self_ms": round(statistics.median(vals), 1), "imported_by": who})
    rows.sort(key=lambda r: -r["self_ms"])
    return rows[:top]


def measure(table: str, endpoint: str, reps: int, pycache: str, log: Any = print) -> dict[str, Any]:
    env = handler_env(table, endpoint)
    env["PYTHONPYCACHEPREFIX"] = pycache  # .pyc compiled once (warm-up) and reused, outside the repo
    targets = [FLOOR, *FUNCTIONS]
    for t in targets:  # warm-up, discarded
        _run(t, env)
    wall: dict[str, list[float]] = {t: [] for t in targets}
    cpu: dict[str, list[float]] = {t: [] for t in targets}
    proc_wall: dict[str, list[float]] = {t: [] for t in targets}
    for i in range(reps):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for t in order:
            w_ms, c_ms, pw_ms, _ = _run(t, env)
            wall[t].append(w_ms)
            cpu[t].append(c_ms)
            proc_wall[t].append(pw_ms)
        log(f"  cold init round {i + 1}/{reps}")
    imports = {t: _median_imports([_run(t, env, "-X", "importtime", who=True)[3] for _ in range(3)])
               for t in targets}
    out: dict[str, Any] = {"reps": reps, "floor": FLOOR, "targets": {}}
    floor_cpu, floor_wall = spread(cpu[FLOOR])["median"], spread(wall[FLOOR])["median"]
    for t in targets:
        cs, ws = spread(cpu[t]), spread(wall[t])
        # Paired: each round's sample over the same round's floor sample (drift on a shared machine cancels out).
        cpu_ratios = [a / b for a, b in zip(cpu[t], cpu[FLOOR], strict=True)]
        wall_ratios = [a / b for a, b in zip(wall[t], wall[FLOOR], strict=True)]
        out["targets"][t] = {
            "init_cpu_ms": cs,
            "init_wall_ms": ws,
            "process_wall_ms": spread(proc_wall[t]),
            # the figure: median over median; with the range of the paired per-round ratios
            "ratio_cpu": {**spread(cpu_ratios), "median": round(cs["median"] / floor_cpu, 2)},
            "ratio_wall": {**spread(wall_ratios), "median": round(ws["median"] / floor_wall, 2)},
            "top_imports": imports[t],
            "cpu_samples_ms": [round(x, 1) for x in cpu[t]],
            "wall_samples_ms": [round(x, 1) for x in wall[t]],
        }
    return out


if __name__ == "__main__":  # quick look: python -m bench.coldstart
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        res = measure("credits-bench", "http://127.0.0.1:1", 3, tmp)
    for name, r in res["targets"].items():
        print(name, r["init_cpu_ms"], r["ratio_cpu"], r["init_wall_ms"], r["ratio_wall"], r["top_imports"][:3])
