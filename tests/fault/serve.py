"""Runs one local stack in a process of its own, for the fault suite: its DynamoDB endpoint is the fault proxy.

A process of its own because the handlers' services (``credits.bootstrap``) and their settings (``os.environ``) are
per process, as they are per Lambda execution environment: a second stack inside the test process would share the
session stack's DynamoDB client. Usage::

    python tests/fault/serve.py --port P --table T --dynamodb-endpoint http://127.0.0.1:PROXY --ready-file F

Writes its base URL to F once it serves; stops when its standard input closes (or on SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "credits")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--dynamodb-endpoint", required=True)
    parser.add_argument("--ready-file", type=Path, required=True, help="gets the base URL once the stack serves")
    args = parser.parse_args(argv)

    from local.dev import run_stripe_setup
    from local.server import LocalStack, StackConfig

    stack = LocalStack(StackConfig(port=args.port, table_name=args.table, dynamodb_endpoint=args.dynamodb_endpoint))
    stack.warm()
    stack.start()
    run_stripe_setup(os.environ["STRIPE_SECRET_KEY"], os.environ.get("STRIPE_API_BASE"))
    args.ready_file.write_text(stack.config.base_url)

    stop = threading.Event()

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    stop.wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
