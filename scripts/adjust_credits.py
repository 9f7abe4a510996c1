"""Admin: give a user a grant of credits (an ``adjustment``), or void a grant, idempotent by key.

Usage:
  python scripts/adjust_credits.py --table TABLE grant --user SUB --amount 500 --reason "goodwill for outage #42" \
      --key outage-42-SUB [--category promotional|paid] [--priority 50] [--expires-in-days 30 | --expires-at ISO]
  python scripts/adjust_credits.py --table TABLE void --user SUB --grant gr_... --reason "granted by mistake" \
      [--key void-1]
  [--endpoint-url http://127.0.0.1:8000] [--region eu-west-1]

A correction is never an edit: to take credits back, void the grant that gave them (its unspent credits leave with a
``void`` entry; what was spent stays spent). Running a command again with the same key changes nothing and prints the
first result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "credits"))

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.engine import AccountEngine
from credits.errors import CreditsError
from credits.grants import GrantService


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint-url", help="DynamoDB Local endpoint")
    parser.add_argument("--region")
    commands = parser.add_subparsers(dest="command", required=True)
    grant = commands.add_parser("grant", help="add credits as a grant (source adjustment)")
    grant.add_argument("--user", required=True)
    grant.add_argument("--amount", required=True, type=int, help="credits to add (1-1,000,000,000)")
    grant.add_argument("--reason", required=True, help="becomes the grant's and the entry's description")
    grant.add_argument("--key", required=True, help="idempotency key: reuse it to retry safely")
    grant.add_argument("--category", choices=["promotional", "paid"], default="promotional")
    grant.add_argument("--priority", type=int, default=50, help="0-100, lower is spent first")
    expiry = grant.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=int)
    expiry.add_argument("--expires-at", help="ISO 8601 UTC time, e.g. 2027-01-31T00:00:00Z")
    void = commands.add_parser("void", help="void a grant: its unspent credits leave now")
    void.add_argument("--user", required=True)
    void.add_argument("--grant", required=True)
    void.add_argument("--reason", required=True)
    void.add_argument("--key", help="idempotency key")
    args = parser.parse_args(argv)
    grants = GrantService(AccountEngine(DynamoLedgerStore(Table(args.table, endpoint_url=args.endpoint_url,
                                                                 region=args.region))))
    try:
        if args.command == "grant":
            if not args.reason.strip():
                raise SystemExit("--reason must not be empty")
            result = grants.create_grant(
                args.user, args.amount, idempotency_key=args.key, category=args.category, priority=args.priority,
                expires_at=args.expires_at, expires_in_days=args.expires_in_days, description=args.reason,
                source="adjustment", entry_type="adjustment",
            ).to_dict()
        else:
            result = grants.void_grant(args.user, args.grant, args.reason, args.key).to_dict()
    except CreditsError as exc:
        print(json.dumps(exc.envelope()), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
