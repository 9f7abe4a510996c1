"""A TCP fault proxy that understands just enough HTTP/1.1 to fault one request at a time.

It sits between the service's botocore client and DynamoDB Local. A generic byte pump cannot say "the request reached
DynamoDB, now lose the answer", and that is the fault a ledger must survive, so the proxy reads each request whole
(headers + ``Content-Length`` body), asks its schedule what to do with it, and then does that:

* ``pass``               forward the request, relay the response;
* ``latency``            the same, with a delay before forwarding and/or before relaying (bounded well below the
                         client's read timeout, so it slows without failing);
* ``reset_before_send``  reset the client's connection; DynamoDB never sees the request;
* ``drop_after_send``    forward the request, wait for DynamoDB's whole answer, then reset the client's connection
                         without a byte of it: DynamoDB applied it, the client did not hear (the dangerous one);
* ``truncate_response``  forward, then relay the status line, the headers and part of the body, then reset;
* ``duplicate_request``  forward and relay as usual, then send the same bytes to DynamoDB once more on a fresh
                         connection (a retry that overtook its delayed original: it must not apply twice).

A schedule decides per request (``decide(operation)``) from the DynamoDB operation in ``X-Amz-Target`` (or, in front
of the service's own HTTP API, ``"POST /credits/consume"``). Counters say what was injected, per kind and per
operation. Threads, blocking sockets, stdlib only.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from .schedule import FAULT_KINDS, Fault, Passthrough, Schedule

MAX_HEADER_BYTES = 64 * 1024
UPSTREAM_TIMEOUT = 30.0


# --- HTTP framing --------------------------------------------------------------------------------------------------
class _Closed(Exception):
    """The peer closed (or reset) the connection between messages."""


@dataclass(frozen=True)
class Message:
    head: bytes  # start line + headers + the blank line
    body: bytes  # exactly as framed on the wire (chunk markers included when chunked)
    headers: Mapping[str, str]  # lower-cased names, last value wins

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


def _read_head(reader: BinaryIO) -> tuple[bytes, dict[str, str]]:
    lines: list[bytes] = []
    size = 0
    while True:
        line = reader.readline(MAX_HEADER_BYTES + 1)
        if not line:
            if lines:
                raise _Closed("connection closed inside a message head")
            raise _Closed("connection closed")
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise _Closed("message head too large")
        if not lines and line in (b"\r\n", b"\n"):
            continue  # stray CRLF between messages (RFC 9112 allows ignoring it)
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    headers: dict[str, str] = {}
    for raw in lines[1:-1]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return b"".join(lines), headers


def _read_exact(reader: BinaryIO, n: int) -> bytes:
    data = reader.read(n)
    if data is None or len(data) != n:
        raise _Closed("connection closed inside a message body")
    return data


def _read_chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = reader.readline(1024)
        if not size_line:
            raise _Closed("connection closed inside a chunked body")
        parts.append(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the blank line
                trailer = reader.readline(MAX_HEADER_BYTES)
                if not trailer:
                    raise _Closed("connection closed inside chunked trailers")
                parts.append(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return b"".join(parts)
        parts.append(_read_exact(reader, size + 2))


def read_message(reader: BinaryIO, *, response_to: str | None = None) -> Message:
    """One HTTP/1.1 message. ``response_to`` is the request method when reading a response (HEAD has no body)."""
    head, headers = _read_head(reader)
    if response_to is not None:
        status = int(head.split(b" ", 2)[1])
        if response_to == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Message(head, b"", headers)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Message(head, _read_chunked(reader), headers)
    if "content-length" in headers:
        return Message(head, _read_exact(reader, int(headers["content-length"])), headers)
    if response_to is not None:  # a response framed by closing the connection
        return Message(head, reader.read(), {**headers, "connection": "close"})
    return Message(head, b"", headers)


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: the peer sees "connection reset by peer"."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# --- the proxy -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultCounts:
    """What a proxy saw and injected over some period."""

    requests: int
    injected: Mapping[Fault, int]
    by_operation: Mapping[tuple[Fault, str], int]

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def __sub__(self, earlier: FaultCounts) -> FaultCounts:
        return FaultCounts(
            self.requests - earlier.requests,
            {k: v for k in FAULT_KINDS if (v := self.injected.get(k, 0) - earlier.injected.get(k, 0))},
            {k: v for k, n in self.by_operation.items() if (v := n - earlier.by_operation.get(k, 0))},
        )

    def describe(self) -> str:
        kinds = ", ".join(f"{k.value} {self.injected[k]}" for k in FAULT_KINDS if self.injected.get(k))
        return f"{self.total} faults in {self.requests} requests ({kinds or 'none'})"


class FaultProxy:
    """``with FaultProxy(("127.0.0.1", port)) as proxy:`` then point a client at ``proxy.endpoint``.

    Set ``proxy.schedule`` at any time; it applies to the next request read.
    """

    def __init__(self, upstream: tuple[str, int], schedule: Schedule | None = None, *,
                 latency: tuple[float, float] = (0.02, 0.3), seed: int = 0) -> None:
        self.upstream = upstream
        self.schedule: Schedule = schedule or Passthrough()
        self.latency = latency
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._requests = 0
        self._injected: Counter[Fault] = Counter()
        self._by_operation: Counter[tuple[Fault, str]] = Counter()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port: int = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() (close alone does not)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- counters --------------------------------------------------------------------------------------------------
    def counts(self) -> FaultCounts:
        with self._lock:
            return FaultCounts(self._requests, dict(self._injected), dict(self._by_operation))

    def _record(self, fault: Fault, operation: str) -> None:
        with self._lock:
            self._requests += 1
            if fault is not Fault.PASS:
                self._injected[fault] += 1
                self._by_operation[(fault, operation)] += 1

    def _delays(self) -> tuple[float, float]:
        """(before forwarding, before relaying): one delay, put on either side of DynamoDB at random."""
        with self._lock:
            delay = self._rng.uniform(*self.latency)
            return (delay, 0.0) if self._rng.random() < 0.5 else (0.0, delay)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _forget(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)

    # --- serving ---------------------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), name="fault-proxy-conn", daemon=True).start()

    def _connect_upstream(self) -> tuple[socket.socket, BinaryIO]:
        sock = socket.create_connection(self.upstream, timeout=UPSTREAM_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(sock)
        return sock, sock.makefile("rb")

    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        upstream: socket.socket | None = None
        up_reader: BinaryIO | None = None
        try:
            while True:
                try:
                    request = read_message(reader)
                except (_Closed, OSError, ValueError):
                    return
                method, operation = operation_of(request)
                fault = self.schedule.decide(operation)
                self._record(fault, operation)
                if fault is Fault.RESET_BEFORE_SEND:
                    return  # the finally block resets the client connection
                before, after = self._delays() if fault is Fault.LATENCY else (0.0, 0.0)
                time.sleep(before)
                if upstream is None:
                    upstream, up_reader = self._connect_upstream()
                assert up_reader is not None
                upstream.sendall(request.raw)
                response = read_message(up_reader, response_to=method)
                if fault is Fault.DROP_AFTER_SEND:
                    return
                if fault is Fault.TRUNCATE_RESPONSE:
                    # Status line, headers and at most half the body: never a complete message.
                    client.sendall(cut_short(response))
                    return
                time.sleep(after)
                client.sendall(response.raw)
                if fault is Fault.DUPLICATE_REQUEST:
                    self._send_again(request, method)
                if not (request.keep_alive and response.keep_alive):
                    client.close()
                    return
        except (_Closed, OSError, ValueError):
            return  # upstream went away mid-message: the client sees its connection reset below
        finally:
            self._forget(client)
            _reset(client)
            if upstream is not None:
                self._forget(upstream)
                upstream.close()

    def _send_again(self, request: Message, method: str) -> None:
        sock, reader = self._connect_upstream()
        try:
            sock.sendall(request.raw)
            read_message(reader, response_to=method)
        finally:
            self._forget(sock)
            sock.close()


def operation_of(request: Message) -> tuple[str, str]:
    """(method, operation): the DynamoDB operation from ``X-Amz-Target``, else ``"METHOD /path"`` (no query)."""
    method, _, rest = request.head.decode("latin-1").partition(" ")
    target = request.headers.get("x-amz-target", "").rpartition(".")[2]
    return method, target or f"{method} {rest.split(' ', 1)[0].split('?', 1)[0]}"


def cut_short(response: Message) -> bytes:
    """The response without its second half: head plus half the body, or half the head when there is no body."""
    if not response.body:
        return response.head[: len(response.head) // 2]
    return response.head + response.body[: len(response.body) // 2]
