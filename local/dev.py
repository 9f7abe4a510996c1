"""`make dev`: start DynamoDB Local (data under DATA_DIR) unless DYNAMODB_ENDPOINT_URL names one, create the table from
template.yaml if it is missing, serve everything.

Ctrl-C (or SIGTERM) stops every process this started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import boto3

from local.dynamodb_local import DynamoDBLocal
from local.server import DEV_OUTBOUND_SECRET, DEV_WEBHOOK_SECRET, LocalStack, StackConfig
from local.template import ROOT, create_table

TABLE = "credits-local"


def run_stripe_setup(api_key: str, api_base: str | None) -> None:
    """Create the catalog's prices in whichever Stripe the stack talks to (idempotent by lookup_key)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from stripe_setup import setup  # type: ignore[import-not-found]

    setup(api_key=api_key, api_base=api_base)


def change_path_settings() -> dict[str, Any]:
    """OUTBOUND_WEBHOOK_URL / _SECRET, DEFAULT_ALERT_THRESHOLDS, LOCAL_SCHEDULE_SECONDS, validated before start."""
    sys.path.insert(0, str(ROOT / "layers" / "credits"))
    from credits.events.config import parse_thresholds, validate_outbound_secret

    secret = os.environ.get("OUTBOUND_WEBHOOK_SECRET") or DEV_OUTBOUND_SECRET
    validate_outbound_secret(secret, "OUTBOUND_WEBHOOK_SECRET")
    thresholds = os.environ.get("DEFAULT_ALERT_THRESHOLDS", "")
    parse_thresholds(thresholds)
    raw = os.environ.get("LOCAL_SCHEDULE_SECONDS", "60")
    try:
        every = float(raw)
    except ValueError:
        every = 0.0
    if not 0 < every <= 86400:
        raise SystemExit("LOCAL_SCHEDULE_SECONDS must be a number of seconds (0-86400)")
    return {"outbound_webhook_url": os.environ.get("OUTBOUND_WEBHOOK_URL") or None,
            "outbound_webhook_secret": secret, "default_alert_thresholds": thresholds, "schedule_seconds": every}


def main() -> int:
    port = int(os.environ.get("PORT", "3000"))
    try:
        events = change_path_settings()
    except RuntimeError as exc:  # ConfigError: a clean message naming the setting, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("DATA_DIR") or ROOT / ".data").resolve()
    webhook_secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET
    # DYNAMODB_ENDPOINT_URL: use that DynamoDB (a shared DynamoDB Local, another emulator) instead of starting one.
    external = (os.environ.get("DYNAMODB_ENDPOINT_URL") or "").strip() or None
    ddb = None if external else DynamoDBLocal(port=int(os.environ.get("DYNAMODB_PORT") or 0),
                                              data_dir=data_dir / "dynamodb")
    if ddb is not None:
        ddb.start()
    endpoint = external or (ddb.endpoint if ddb else "")
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                              aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))
        created = create_table(client, TABLE)  # created if missing, with the template's stream (added if absent)
        stack = LocalStack(
            StackConfig(
                port=port,
                table_name=TABLE,
                dynamodb_endpoint=endpoint,
                data_dir=data_dir,
                stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
                stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
                webhook_secret=webhook_secret,
                **events,
            )
        )
        stack.warm()
        stack.start()
        run_stripe_setup(os.environ["STRIPE_SECRET_KEY"], os.environ.get("STRIPE_API_BASE"))
        base = stack.config.base_url
        if ddb is None:
            where = "DYNAMODB_ENDPOINT_URL (not started by make dev)"
        elif ddb.contained:
            where = f"DynamoDB Local, data in {data_dir}, in its own network namespace (this machine only)"
        else:
            where = f"DynamoDB Local, data in {data_dir}, NOT contained (DYNAMODB_LOCAL_UNCONTAINED=1)"
        stripe_where = f"simulator at {base}/_stripe/v1" if stack.config.uses_simulator else "real API (key set)"
        print(f"""
Credits local stack is up.
  Dashboard        {base}/
  API              {base}/credits/...   (openapi.yaml)
  Dev token        curl -s -X POST {base}/dev/token -d '{{"sub":"alice"}}'
  DynamoDB         {endpoint}  table {TABLE} ({'created' if created else 'existing'}), {where}
  Stripe           {stripe_where}
  Webhook secret   {webhook_secret if stack.config.uses_simulator else '(from STRIPE_WEBHOOK_SECRET)'}
  Outbound events  {stack.config.outbound_webhook_url or 'not delivered (set OUTBOUND_WEBHOOK_URL)'}
  Events emitted   {base}/_local/events?user_id=alice
  Outbound secret  {stack.config.outbound_webhook_secret}
  Schedules        the template's scheduled functions every {stack.config.schedule_seconds:g}s
Press Ctrl-C to stop.""", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        stack.stop()
    finally:
        if ddb is not None:
            ddb.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
