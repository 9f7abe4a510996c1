"""Admin grants and voids: idempotent by key, a reason in the ledger, corrections as voids (never edits)."""

from __future__ import annotations

import json

from adjust_credits import main


def run(capsys, *args: str) -> tuple[int, dict]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, json.loads(out or err)


def test_grant_then_replay_then_void(stack, ddb_local, table, user, capsys, http):
    base = ["--table", table, "--endpoint-url", ddb_local.endpoint, "--region", "us-east-1"]
    code, first = run(capsys, *base, "grant", "--user", user, "--amount", "500", "--reason", "goodwill", "--key", "g1",
                      "--expires-in-days", "30", "--category", "paid", "--priority", "20")
    assert code == 0 and first["remaining"] == 500 and first["replayed"] is False
    assert (first["source"], first["category"], first["priority"]) == ("adjustment", "paid", 20)
    assert first["expires_at"] is not None
    code, again = run(capsys, *base, "grant", "--user", user, "--amount", "500", "--reason", "goodwill", "--key", "g1",
                      "--expires-in-days", "30", "--category", "paid", "--priority", "20")
    assert again["grant_id"] == first["grant_id"] and again["replayed"] is True
    code, reused = run(capsys, *base, "grant", "--user", user, "--amount", "7", "--reason", "goodwill", "--key", "g1")
    assert code == 1 and reused["error"]["code"] == "idempotency_key_reused"
    code, promo = run(capsys, *base, "grant", "--user", user, "--amount", "100", "--reason", "promo", "--key", "g2")
    assert code == 0 and promo["category"] == "promotional" and promo["expires_at"] is None
    code, voided = run(capsys, *base, "void", "--user", user, "--grant", promo["grant_id"], "--reason", "by mistake")
    assert code == 0 and voided["voided"] == 100 and voided["status"] == "voided"
    code, twice = run(capsys, *base, "void", "--user", user, "--grant", promo["grant_id"], "--reason", "again")
    assert code == 1 and twice["error"]["code"] == "grant_not_active"
    balance = http.get(stack.url("/credits/balance"), headers=stack.headers(user)).json()
    assert balance["balance"] == 500
    entries = http.get(stack.url("/credits/history"), headers=stack.headers(user)).json()["items"]
    assert [(e["type"], e["amount"], e["description"]) for e in entries] == [
        ("void", -100, "by mistake"), ("adjustment", 100, "promo"), ("adjustment", 500, "goodwill")]
