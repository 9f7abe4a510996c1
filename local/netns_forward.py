"""Runs DynamoDB Local in a network namespace of its own and forwards one loopback port of the host to it.

DynamoDB Local has no option to choose its listening address: it listens on every interface and answers any
credentials, so anyone on the developer's network could rewrite the dev ledger. ``local.dynamodb_local`` therefore
starts this script under ``unshare -n`` (or ``unshare -rn`` without root): the namespace has only its own loopback,
so nothing outside it can reach the jar. The parent binds the host-side socket on 127.0.0.1 before the namespace
exists and passes it in (``--listen-fd``); this script accepts on it and copies bytes to the jar's port inside.

Standard library only; run as a script. Prints ``ready`` on stdout once the jar accepts connections.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
BUFFER = 256 * 1024


def die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, so a killed test run leaves no jar behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def loopback_up() -> None:
    """A new network namespace starts with its loopback down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))


def pipe(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    try:
        while n := src.recv_into(buf):
            dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port))
    except OSError:
        conn.close()
        return
    for s in (conn, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pipe, args=(upstream, conn), daemon=True)
    back.start()
    pipe(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def wait_for(port: int, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"DynamoDB Local exited with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"DynamoDB Local did not listen within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--port", type=int, required=True, help="the jar's port inside the namespace")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- java ... (the jar's command line)")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    die_with_parent()
    loopback_up()
    listener = socket.socket(fileno=args.listen_fd)
    jar = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=die_with_parent)  # prctl only, between fork and exec
    signal.signal(signal.SIGTERM, lambda *_: (jar.terminate(), sys.exit(0)))
    try:
        wait_for(args.port, jar, timeout=60)
        print("ready", flush=True)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, args.port), daemon=True).start()
    finally:
        jar.terminate()
        try:
            jar.wait(timeout=10)
        except subprocess.TimeoutExpired:
            jar.kill()


if __name__ == "__main__":
    raise SystemExit(main())
