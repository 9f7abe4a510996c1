"""Re-sign the Stripe webhook events in this folder (their signatures go stale 300 s after their timestamp).

    python events/sign_webhook.py                                  # re-sign events/webhook/checkout_completed.json
    python events/sign_webhook.py events/webhook/x.json --stdout   # print instead of rewriting the file
    STRIPE_WEBHOOK_SECRET=whsec_... python events/sign_webhook.py  # sign for another endpoint secret

The signature is Stripe's scheme: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
keyed with the endpoint secret. The default secret is the documented test secret (see events/README.md), the
same one the local stack (`make dev`) and the tests use.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

TEST_SECRET = "whsec_local_dev_secret_do_not_use_in_production"
DEFAULT_EVENT = Path(__file__).resolve().parent / "webhook" / "checkout_completed.json"


def stripe_signature(payload: str, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def sign_event(event: dict[str, Any], secret: str = TEST_SECRET, timestamp: int | None = None) -> dict[str, Any]:
    """A copy of an API Gateway (payload 2.0) event whose body carries a fresh, valid Stripe-Signature."""
    signed = json.loads(json.dumps(event))
    body = signed["body"]
    headers = signed["headers"]
    headers["stripe-signature"] = stripe_signature(body, secret, int(time.time()) if timestamp is None else timestamp)
    headers["content-length"] = str(len(body.encode()))
    return signed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT_EVENT])
    parser.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET") or TEST_SECRET)
    parser.add_argument("--timestamp", type=int, default=None, help="unix time to sign at (default: now)")
    parser.add_argument("--stdout", action="store_true", help="print the signed event instead of rewriting the file")
    args = parser.parse_args(argv)
    for path in args.files:
        signed = sign_event(json.loads(path.read_text(encoding="utf-8")), args.secret, args.timestamp)
        text = json.dumps(signed, indent=2, ensure_ascii=False) + "\n"
        if args.stdout:
            sys.stdout.write(text)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"signed {path} ({signed['headers']['stripe-signature'].split(',')[0]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
