"""A tiny backend that sells image renders for credits, using the credits client.

``POST /render`` with the user's bearer token (the same JWT the credits service accepts) and a JSON body
``{"prompt": str, "size": "small"|"medium"|"large"}``:

1. holds 5 credits (the most a render can cost), so a user who cannot pay is refused before any work (402);
2. renders (here: an SVG; in real life the GPU job);
3. captures what the job actually used (2, 3 or 5 credits by size) and the rest of the hold goes back at once;
4. if the render fails, the ``with`` block raises, the hold is released, and the user pays nothing (502).

The app keeps one ``httpx.Client`` (a keep-alive pool to the credits service) and builds a light ``CreditsClient``
per request with that user's token. Standard library HTTP server only, to keep the example dependency-free.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from credits_client import (
    CreditsClient,
    CreditsError,
    HoldNotPending,
    InsufficientCredits,
    InvalidRequest,
    Unauthorized,
)

log = logging.getLogger("render_service")

HOLD_CREDITS = 5
COST_BY_SIZE = {"small": 2, "medium": 3, "large": 5}
PIXELS = {"small": 256, "medium": 512, "large": 1024}
MAX_BODY = 16 * 1024


class RenderFailed(Exception):
    """The render job failed; the user must not be charged."""


@dataclass(frozen=True)
class Rendered:
    image: str  # SVG markup
    credits_used: int


Renderer = Callable[[str, str], Rendered]


def render_svg(prompt: str, size: str) -> Rendered:
    """The stand-in for the expensive job: a deterministic SVG whose cost depends on its size."""
    px = PIXELS[size]
    hue = sum(prompt.encode()) % 360
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}">'
           f'<rect width="100%" height="100%" fill="hsl({hue},70%,60%)"/>'
           f'<text x="50%" y="50%" text-anchor="middle">{html.escape(prompt)}</text></svg>')
    return Rendered(svg, COST_BY_SIZE[size])


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": {"code": code, "message": message, **extra}}


class RenderService:
    def __init__(self, credits_url: str, *, renderer: Renderer = render_svg, http: httpx.Client | None = None,
                 hold_ttl_seconds: int = 120) -> None:
        self.credits_url = credits_url
        self.renderer = renderer
        self.http = http or httpx.Client(timeout=10.0)
        self.hold_ttl_seconds = hold_ttl_seconds

    def render(self, token: str, body: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        prompt, size = body.get("prompt"), body.get("size", "small")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 500:
            raise HttpError(400, "invalid_request", "prompt: a string of 1-500 characters is required.")
        if size not in COST_BY_SIZE:
            raise HttpError(400, "invalid_request", f"size: one of {', '.join(COST_BY_SIZE)}.")
        credits = CreditsClient(self.credits_url, token=token, http_client=self.http)
        # A client-chosen request id makes a retried /render place the same hold instead of a second one.
        key = f"render-{request_id}" if request_id else None
        try:
            with credits.hold(HOLD_CREDITS, ttl_seconds=self.hold_ttl_seconds, description=f"render {size}",
                              idempotency_key=key) as hold:
                if hold.status != "pending":  # a retried request whose render was already charged
                    raise HttpError(409, "already_rendered", "This request id was already used.")
                try:
                    result = self.renderer(prompt, size)
                except RenderFailed as exc:
                    log.warning("render failed, releasing hold %s: %s", hold.hold_id, exc)
                    raise HttpError(502, "render_failed", "The render failed; you were not charged.") from exc
                captured = hold.capture(min(result.credits_used, HOLD_CREDITS))
        except HoldNotPending as exc:  # the same request id, resolved meanwhile by a concurrent or earlier try
            raise HttpError(409, "already_rendered", "This request id was already used.") from exc
        except InsufficientCredits as exc:
            raise HttpError(402, "insufficient_credits", f"A render needs {exc.required} credits.",
                            available=exc.available, required=exc.required) from exc
        except Unauthorized as exc:
            raise HttpError(401, "unauthorized", "A valid bearer token is required.") from exc
        except InvalidRequest as exc:
            raise HttpError(400, "invalid_request", exc.message) from exc
        except CreditsError as exc:
            raise HttpError(503, "credits_unavailable", "The credits service is unavailable; retry later.") from exc
        return {"image": result.image, "hold_id": hold.hold_id, "credits_charged": captured.captured,
                "available": captured.available}

    def close(self) -> None:
        self.http.close()


def make_server(service: RenderService, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            try:
                if self.path != "/render":
                    raise HttpError(404, "not_found", "No such route.")
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise HttpError(401, "unauthorized", "A valid bearer token is required.")
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.close_connection = True
                    raise HttpError(413, "payload_too_large", "Body too large.")
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError as exc:
                    raise HttpError(400, "invalid_request", "body: must be JSON.") from exc
                if not isinstance(body, dict):
                    raise HttpError(400, "invalid_request", "body: must be a JSON object.")
                self._send(200, service.render(token.strip(), body, self.headers.get("X-Request-Id")))
            except HttpError as exc:
                self._send(exc.status, exc.body)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render images for credits (an example backend).")
    ap.add_argument("--credits-url", default="http://127.0.0.1:3000", help="the credits API (make dev's default)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    service = RenderService(args.credits_url)
    server = make_server(service, args.host, args.port)
    log.info("render service on http://%s:%s (credits at %s)", args.host, args.port, args.credits_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
