"""Admin: grant (+) or correct (-) a user's credits, idempotent by key, with a reason that lands in the ledger.

Usage: python scripts/adjust_credits.py --table credits-dev-CreditsTable-X --user SUB --amount 500 \
           --reason "goodwill for outage #42" --key outage-42-SUB [--endpoint-url http://127.0.0.1:8000]
Running it again with the same key changes nothing and prints the first result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "credits"))

from credits.dynamodb import DynamoLedgerStore
from credits.errors import CreditsError
from credits.ledger import Ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--amount", required=True, type=int, help="credits to add (negative to remove)")
    parser.add_argument("--reason", required=True)
    parser.add_argument("--key", required=True, help="idempotency key: reuse it to retry safely")
    parser.add_argument("--endpoint-url", help="DynamoDB Local endpoint")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    ledger = Ledger(DynamoLedgerStore(args.table, endpoint_url=args.endpoint_url, region=args.region))
    try:
        result = ledger.adjust(args.user, args.amount, args.reason, args.key)
    except CreditsError as exc:
        print(json.dumps(exc.envelope()), file=sys.stderr)
        return 1
    print(json.dumps({"transaction_id": result.transaction_id, "amount": result.amount, "replayed": result.replayed,
                      "balance": result.balance.balance, "available": result.balance.available}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
