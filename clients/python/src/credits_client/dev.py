"""Local stack only: a token for a made-up user from ``make dev``'s ``POST /dev/token`` (never deployed)."""

from __future__ import annotations

import httpx

from credits_client import _validate as v
from credits_client._http import normalise_base_url
from credits_client.errors import from_response


def dev_token(base_url: str, sub: str, *, email: str | None = None, timeout: float = 10.0) -> str:
    """A JWT the local stack accepts for user ``sub``. A deployment has no such route (404)."""
    body: dict[str, str] = {"sub": v.text("sub", sub, 128, allow_empty=False)}
    if email is not None:
        body["email"] = v.text("email", email, 254, allow_empty=False)
    response = httpx.post(normalise_base_url(base_url) + "/dev/token", json=body, timeout=timeout)
    if response.status_code != 200:
        raise from_response(response.status_code, response.content)
    return str(response.json()["token"])
