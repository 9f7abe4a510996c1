"""`make dev`: start DynamoDB Local (data under DATA_DIR), create the table from template.yaml, serve everything.

Ctrl-C (or SIGTERM) stops every process this started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import boto3

from local.dynamodb_local import DynamoDBLocal
from local.server import DEV_WEBHOOK_SECRET, LocalStack, StackConfig
from local.template import ROOT, create_table

TABLE = "credits-local"


def run_stripe_setup(api_key: str, api_base: str | None) -> None:
    """Create the catalog's prices in whichever Stripe the stack talks to (idempotent by lookup_key)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from stripe_setup import setup  # type: ignore[import-not-found]

    setup(api_key=api_key, api_base=api_base)


def main() -> int:
    port = int(os.environ.get("PORT", "3000"))
    data_dir = Path(os.environ.get("DATA_DIR") or ROOT / ".data").resolve()
    webhook_secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET
    ddb = DynamoDBLocal(port=int(os.environ.get("DYNAMODB_PORT") or 0), data_dir=data_dir / "dynamodb")
    ddb.start()
    try:
        client = boto3.client("dynamodb", endpoint_url=ddb.endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        created = create_table(client, TABLE)
        stack = LocalStack(
            StackConfig(
                port=port,
                table_name=TABLE,
                dynamodb_endpoint=ddb.endpoint,
                data_dir=data_dir,
                stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
                stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
                webhook_secret=webhook_secret,
            )
        )
        stack.warm()
        stack.start()
        run_stripe_setup(os.environ["STRIPE_SECRET_KEY"], os.environ.get("STRIPE_API_BASE"))
        base = stack.config.base_url
        stripe_where = f"simulator at {base}/_stripe/v1" if stack.config.uses_simulator else "real API (key set)"
        print(f"""
Credits local stack is up.
  Dashboard        {base}/
  API              {base}/credits/...   (openapi.yaml)
  Dev token        curl -s -X POST {base}/dev/token -d '{{"sub":"alice"}}'
  DynamoDB Local   {ddb.endpoint}  table {TABLE} ({'created' if created else 'existing'}), data in {data_dir}
                   {'in its own network namespace: reachable from this machine only' if ddb.contained
                    else 'NOT contained: reachable from the network (DYNAMODB_LOCAL_UNCONTAINED=1)'}
  Stripe           {stripe_where}
  Webhook secret   {webhook_secret if stack.config.uses_simulator else '(from STRIPE_WEBHOOK_SECRET)'}
Press Ctrl-C to stop.""", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        stack.stop()
    finally:
        ddb.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
