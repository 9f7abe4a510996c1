"""Admin grants and corrections: idempotent by key, a reason in the ledger, never below zero by correction."""

from __future__ import annotations

import json

from adjust_credits import main


def run(capsys, *args: str) -> tuple[int, dict]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, json.loads(out or err)


def test_grant_then_replay_then_correction(stack, ddb_local, table, user, capsys):
    base = ["--table", table, "--user", user, "--endpoint-url", ddb_local.endpoint, "--region", "us-east-1"]
    code, first = run(capsys, *base, "--amount", "500", "--reason", "goodwill", "--key", "g1")
    assert code == 0 and first["balance"] == 500 and first["replayed"] is False
    code, again = run(capsys, *base, "--amount", "500", "--reason", "goodwill", "--key", "g1")
    assert again["transaction_id"] == first["transaction_id"] and again["replayed"] is True and again["balance"] == 500
    code, reused = run(capsys, *base, "--amount", "7", "--reason", "goodwill", "--key", "g1")
    assert code == 1 and reused["error"]["code"] == "idempotency_key_reused"
    code, too_much = run(capsys, *base, "--amount", "-501", "--reason", "fix", "--key", "c1")
    assert code == 1 and too_much["error"]["code"] == "insufficient_credits"
    code, fixed = run(capsys, *base, "--amount", "-200", "--reason", "double grant", "--key", "c2")
    assert code == 0 and fixed["balance"] == 300
    entries = stack.ledger.history(user, limit=10, cursor=None, entry_type="adjustment").items
    assert [(e.amount, e.description) for e in entries] == [(-200, "double grant"), (500, "goodwill")]
