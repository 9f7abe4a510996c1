"""The local stack's HTTP/1.1 edge: framing and parse failures answered in the contract's JSON envelope.

``BaseHTTPRequestHandler`` answers what it cannot parse with HTML pages (400, 414, 431), unknown methods with 501 and
``HTTP/9.9`` with 505. API Gateway never answers a client's mistake with a 5xx, and the contract wants the envelope
for every answer, so ``send_error`` is replaced: client mistakes get a 4xx envelope, and everything that parses is
handed to ``dispatch(method, target, headers, body)``.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

Dispatch = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

# send_error(status) from the standard library -> (status we answer, envelope code). 5xx never leaves for a
# client's mistake: an unknown method is 405, an unsupported HTTP version 400.
_PARSE_ERRORS = {
    400: (400, "invalid_request"),
    405: (405, "method_not_allowed"),
    408: (408, "request_timeout"),
    411: (411, "length_required"),
    413: (413, "payload_too_large"),
    414: (414, "uri_too_long"),
    417: (417, "expectation_failed"),
    431: (431, "headers_too_large"),
    501: (405, "method_not_allowed"),
    505: (400, "invalid_request"),
}


def envelope(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class EnvelopeRequestHandler(BaseHTTPRequestHandler):
    """Subclass and set ``dispatch`` (see ``handler_class``)."""

    protocol_version = "HTTP/1.1"
    # Used while the request line is still unparsed: 0.9 would send errors without a status line or headers.
    default_request_version = "HTTP/1.0"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    server_version = "credits-local"
    max_body = 64 * 1024
    dispatch: Dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("LOCAL_ACCESS_LOG"):
            super().log_message(format, *args)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.requestline.split()) == 2:  # "GET /": HTTP/0.9, which API Gateway does not speak either
            self.send_error(400, "HTTP/0.9 requests are not supported: send a request line with HTTP/1.1")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status, error_code = _PARSE_ERRORS.get(code, (code if 400 <= code < 500 else 400, "invalid_request"))
        text = message or self.responses.get(code, ("Bad request",))[0]
        detail = f" ({explain})" if explain and explain != text else ""
        self.close_connection = True  # after a parse failure the connection's framing cannot be trusted
        extra = {"allow": ", ".join(METHODS)} if status == 405 else {}
        self._send(status, {"content-type": "application/json", **extra},
                   envelope(error_code, f"Malformed HTTP request: {text}{detail}."))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: int, code: str, message: str) -> None:
        self.close_connection = True
        self._send(status, {"content-type": "application/json"}, envelope(code, message))

    def _handle(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            # API Gateway buffers bodies; this server needs a length to stay in step with the connection.
            return self._refuse(411, "length_required", "Send the body with a Content-Length header.")
        lengths = {v.strip() for v in self.headers.get_all("content-length") or []}
        raw_length = lengths.pop() if len(lengths) == 1 else ("0" if not lengths else "conflicting")
        if not (raw_length.isascii() and raw_length.isdigit()):
            return self._refuse(400, "invalid_request", "Content-Length must be one non-negative integer.")
        length = int(raw_length)
        if length > self.max_body:
            return self._refuse(413, "payload_too_large", f"Request body is larger than {self.max_body} bytes.")
        body = self.rfile.read(length) if length else b""
        try:
            status, out_headers, out = self.dispatch(self.command, self.path, headers, body)
        except Exception:  # noqa: BLE001 - the API Gateway equivalent of a function crash
            traceback.print_exc()
            status, out_headers, out = 500, {"content-type": "application/json"}, envelope(
                "internal_error", "Internal error; please retry."
            )
        self._send(status, out_headers, out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def handler_class(dispatch: Dispatch, *, max_body: int = 64 * 1024) -> type[EnvelopeRequestHandler]:
    return type("LocalStackHandler", (EnvelopeRequestHandler,), {"dispatch": staticmethod(dispatch),
                                                                 "max_body": max_body})
