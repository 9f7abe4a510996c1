"""Invariant 3: secrets and tokens never reach logs or responses, even at DEBUG."""

from __future__ import annotations

import io
import logging
import os

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter


def test_no_secret_or_token_is_logged_or_returned(stack, http, user):
    logger = logging.getLogger("credits")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(LambdaPowertoolsFormatter())  # the same JSON lines CloudWatch would get
    logger.addHandler(handler)
    token = stack.token(user, "who@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        bodies = []
        r = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"}, headers=headers)
        bodies.append(r.text)
        paid = http.post(stack.url(f"/_stripe/checkout/{r.json()['session_id']}/pay"), json={})
        assert paid.status_code == 200
        for call in (
            lambda: http.post(stack.url("/credits/consume"), json={"amount": 5}, headers=headers),
            lambda: http.post(stack.url("/credits/consume"), json={"amount": 10**6}, headers=headers),
            lambda: http.post(stack.url("/credits/consume"), data=b"{bad", headers=headers),
            lambda: http.get(stack.url("/credits/history"), headers=headers),
            lambda: http.post(stack.url("/webhooks/stripe"), data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}),
        ):
            bodies.append(call().text)
    finally:
        logger.setLevel(previous)
        logger.removeHandler(handler)
    logs = sink.getvalue()
    assert "stripe event handled" in logs or "checkout started" in logs  # the flow really logged
    secrets = [os.environ["STRIPE_WEBHOOK_SECRET"], os.environ["STRIPE_SECRET_KEY"], token, token.split(".")[2]]
    for secret in secrets:
        assert secret not in logs
        assert all(secret not in body for body in bodies)
    assert "Bearer" not in logs
