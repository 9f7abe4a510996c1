"""Serving the simulator on its own (tests, and ``python -m local.stripe_sim``)."""

from __future__ import annotations

import argparse
import os
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from local.stripe_sim.core import Response
from local.stripe_sim.simulator import StripeSimulator


class Handles(Protocol):
    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Response: ...


def make_request_handler(sim: Handles) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class that forwards every request to ``sim.handle``."""

    class StripeSimRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms each.
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, payload = sim.handle(self.command, split.path, split.query, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return StripeSimRequestHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the local Stripe simulator on its own.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=os.environ.get("STRIPE_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local_dev"))
    parser.add_argument("--state", type=Path, default=None, help="JSON file that keeps state across restarts")
    args = parser.parse_args(argv)
    sim = StripeSimulator(
        public_base=f"http://{args.host}:{args.port}",
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_path=args.state,
    )
    server = ThreadingHTTPServer((args.host, args.port), make_request_handler(sim))
    print(f"Stripe simulator: api base {sim.api_base}, webhooks to {args.webhook_url or '(nowhere)'}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
