"""A TCP proxy in front of the local stack that can lose answers: the request reaches the server and is processed,
then the client's connection is closed before a byte of the answer reaches it (what a dropped connection, a load
balancer timeout or a crashed middlebox looks like to a client). Speaks just enough HTTP/1.1 to frame messages.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Message:
    head: bytes
    body: bytes

    @property
    def start_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def _read_message(sock: socket.socket, buffer: bytearray) -> Message | None:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    msg = Message(head, b"")
    length = int(msg.header("content-length") or 0)
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    msg.body = bytes(buffer[end:end + length])
    del buffer[:end + length]
    return msg


class DroppingProxy:
    def __init__(self, upstream_base_url: str) -> None:
        parts = urlsplit(upstream_base_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[Message] = []
        self.dropped: list[Message] = []  # the answers the client never saw
        self._to_drop = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next(self, n: int = 1) -> None:
        with self._lock:
            self._to_drop = n

    def requests_to(self, path: str) -> list[Message]:
        return [m for m in self.requests if m.start_line.split(" ")[1].split("?")[0] == path]

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        from_client, from_upstream = bytearray(), bytearray()
        try:
            while True:
                request = _read_message(client, from_client)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                upstream.sendall(request.head + request.body)
                response = _read_message(upstream, from_upstream)  # the server has fully processed the request
                if response is None:
                    return
                with self._lock:
                    drop = self._to_drop > 0
                    if drop:
                        self._to_drop -= 1
                        self.dropped.append(response)
                if drop:
                    return  # close without answering
                client.sendall(response.head + response.body)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def __enter__(self) -> DroppingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
