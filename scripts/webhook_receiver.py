"""A small receiver for the credits service's outbound webhooks: verifies each with ``standardwebhooks``.

    python scripts/webhook_receiver.py --port 4000          # secret: OUTBOUND_WEBHOOK_SECRET or the local default
    OUTBOUND_WEBHOOK_URL=http://127.0.0.1:4000/ make dev     # in another terminal

Each verified event is printed as one JSON line and answered 204; a bad or stale signature is answered 400 (the
service retries it, then dead-letters it). Receivers dedupe by ``webhook-id``: every retry of one event carries
the same id and body. The tests and ``make bench`` use the ``Receiver`` class.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCAL_DEFAULT_SECRET = "whsec_Y3JlZGl0cy1sb2NhbC1kZXYtb3V0Ym91bmQtc2lnbmluZy1rZXk="  # local/server.py's default


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    timestamp: str
    body: bytes
    event: dict[str, Any] | None  # None when the signature did not verify
    arrived_at: float  # time.monotonic()
    headers: dict[str, str]

    @property
    def verified(self) -> bool:
        return self.event is not None


class Receiver:
    """Records every POST; ``status`` is what it answers verified deliveries with (set 503 to play a down app)."""

    def __init__(self, secret: str, *, host: str = "127.0.0.1", port: int = 0, echo: bool = False) -> None:
        self.webhook = Webhook(secret)
        self.deliveries: list[Delivery] = []
        self.status = 204
        self.echo = echo
        self.cond = threading.Condition()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/webhooks"

    def start(self) -> Receiver:
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _record(self, headers: dict[str, str], body: bytes) -> int:
        try:
            event = self.webhook.verify(body, headers)
        except WebhookVerificationError:
            event = None
        delivery = Delivery(headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), body, event,
                            time.monotonic(), headers)
        with self.cond:
            self.deliveries.append(delivery)
            self.cond.notify_all()
        if self.echo:
            line = {"webhook-id": delivery.webhook_id, **event} if event else {"rejected": delivery.webhook_id}
            print(json.dumps(line), flush=True)
        return self.status if event is not None else 400

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = receiver._record({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        return Handler

    # --- for tests and the bench ----------------------------------------------------------------------------------
    def events(self, user_id: str | None = None, event_type: str | None = None,
               match: Callable[[dict[str, Any]], bool] | None = None) -> list[Delivery]:
        """Verified deliveries, optionally of one user, one type, or whose event ``match`` accepts."""
        with self.cond:
            found = list(self.deliveries)
        return [d for d in found if d.event is not None
                and (user_id is None or d.event["data"].get("user_id") == user_id)
                and (event_type is None or d.event["type"] == event_type)
                and (match is None or match(d.event))]

    def wait_for(self, count: int, timeout: float = 10.0, **filters: Any) -> list[Delivery]:
        """Wait until at least ``count`` verified deliveries match ``filters`` (user_id=, event_type=, match=)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = self.events(**filters)
                if len(found) >= count or time.monotonic() >= deadline:
                    return found
                self.cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=4000)
    ap.add_argument("--secret", default=os.environ.get("OUTBOUND_WEBHOOK_SECRET") or LOCAL_DEFAULT_SECRET)
    args = ap.parse_args(argv)
    receiver = Receiver(args.secret, port=args.port, echo=True).start()
    print(f"receiving on {receiver.url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
