"""Who the caller is: the claims rule (401 for ill-formed sub/exp) and the internal routes' IAM allowlist (403)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credits import bootstrap
from credits.claims import claims_problem
from credits.config import InternalAccess, principal_key
from credits.errors import ConfigError
from local.lambda_host import FunctionPool, decode_response
from local.template import ROOT

EVENTS = ROOT / "events"
ACCOUNT = "123456789012"
WORKER = f"arn:aws:iam::{ACCOUNT}:role/billing-worker"


@pytest.mark.parametrize("claims", [
    {"sub": "alice", "exp": 1700000000},
    {"sub": "é" * 256, "exp": 1700000000.5},
    {"sub": "日本語のユーザー", "exp": 0},
])
def test_well_formed_claims_pass(claims):
    assert claims_problem(claims) is None


@pytest.mark.parametrize(("claims", "why"), [
    ({"sub": "\ud800", "exp": 1700000000}, "valid Unicode"),  # a lone surrogate: no UTF-8 for it
    ({"sub": "a" * 257, "exp": 1700000000}, "at most 256"),
    ({"sub": "", "exp": 1700000000}, "non-empty"),
    ({"sub": "   ", "exp": 1700000000}, "non-empty"),
    ({"sub": 42, "exp": 1700000000}, "non-empty string"),
    ({"exp": 1700000000}, "non-empty string"),
    ({"sub": "alice", "exp": "9999999999"}, "exp"),  # PyJWT accepts this string
    ({"sub": "alice", "exp": True}, "exp"),
    ({"sub": "alice", "exp": float("inf")}, "exp"),
    ({"sub": "alice"}, "exp"),
])
def test_ill_formed_claims_are_named(claims, why):
    problem = claims_problem(claims)
    assert problem is not None and why in problem


def test_claims_as_api_gateway_passes_them_are_text_and_still_checked():
    assert claims_problem({"sub": "alice", "exp": "1700000000"}, as_text=True) is None
    assert claims_problem({"sub": "alice", "exp": "soon"}, as_text=True) is not None
    assert claims_problem({"sub": "\udfff", "exp": "1700000000"}, as_text=True) is not None


# --- principal normalisation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("arn", "key"), [
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-worker/i-0abc123", WORKER),
    (f"arn:aws:iam::{ACCOUNT}:role/billing-worker", WORKER),
    (f"arn:aws:iam::{ACCOUNT}:role/jobs/nightly/billing-worker", WORKER),  # the path is not part of the identity
    (f"arn:aws:iam::{ACCOUNT}:user/ops/deployer", f"arn:aws:iam::{ACCOUNT}:user/deployer"),
    (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/r/s", f"arn:aws-cn:iam::{ACCOUNT}:role/r"),
    (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
    (f"arn:aws:iam::{ACCOUNT}:root", None),
    ("billing-worker", None),
])
def test_principal_key(arn, key):
    assert principal_key(arn) == key


def test_allowlist_matches_sessions_of_listed_roles_only():
    access = InternalAccess.from_env({"INTERNAL_PRINCIPALS": f" {WORKER} , arn:aws:iam::{ACCOUNT}:user/local-service"})
    assert access.allows(f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-worker/session-1")
    assert access.allows(f"arn:aws:iam::{ACCOUNT}:user/local-service")
    assert not access.allows(f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/session-1")
    assert not access.allows("arn:aws:sts::999999999999:assumed-role/billing-worker/session-1")  # other account
    assert not access.allows(None) and not access.allows("")


def test_empty_allowlist_refuses_everyone():
    for env in ({}, {"INTERNAL_PRINCIPALS": ""}, {"INTERNAL_PRINCIPALS": " , "}):
        assert InternalAccess.from_env(env).principals == frozenset()
        assert not InternalAccess.from_env(env).allows(WORKER)


@pytest.mark.parametrize("value", [
    "billing-worker",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-worker/s",  # a session, not an identity to list
    f"arn:aws:iam::{ACCOUNT}:group/admins",
])
def test_malformed_allowlist_fails_the_cold_start(value):
    with pytest.raises(ConfigError, match="INTERNAL_PRINCIPALS"):
        InternalAccess.from_env({"INTERNAL_PRINCIPALS": value})


# --- through the real handlers -------------------------------------------------------------------------------------
class Ledger:
    """Records the spend it is asked for; enough for the routes' happy path."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def consume(self, user: str, amount: int, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((user, amount))

        class Result:
            def to_dict(self) -> dict[str, Any]:
                return {"transaction_id": "tx_1", "amount": amount, "replayed": False}

        return Result()

    def balance(self, user: str) -> Any:
        self.calls.append((user,))

        class Balance:
            def to_dict(self) -> dict[str, Any]:
                return {"user_id": user, "balance": 0, "held": 0, "available": 0, "updated_at": None}

        return Balance()


def invoke(function_dir: str, logical_id: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    pool = FunctionPool(logical_id, ROOT / "functions" / function_dir, "app.lambda_handler")
    status, _, body = decode_response(pool.invoke(event))
    return status, json.loads(body)


def internal_event(caller: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "internal_consume/ok.json").read_text())
    event["requestContext"]["authorizer"]["iam"]["userArn"] = caller
    return event


@pytest.mark.parametrize(("allowlist", "caller", "status"), [
    ({WORKER}, f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-worker/job-7", 200),
    ({WORKER}, f"arn:aws:sts::{ACCOUNT}:assumed-role/PowerUser/alice", 403),  # any IAM principal is no longer enough
    ({WORKER}, f"arn:aws:iam::{ACCOUNT}:user/admin", 403),
    (set(), f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-worker/job-7", 403),  # empty list: secure default
])
def test_internal_consume_checks_the_iam_caller_against_the_allowlist(allowlist, caller, status):
    ledger = Ledger()
    with bootstrap.override(ledger=ledger, internal_access=InternalAccess(frozenset(allowlist))):
        got, body = invoke("internal_consume", "InternalConsumeFunction", internal_event(caller))
    assert got == status, body
    if status == 403:
        assert body["error"]["code"] == "forbidden" and ledger.calls == []  # refused before any spend
    else:
        assert ledger.calls == [("user-events-example", 10)]


@pytest.mark.parametrize("claims", [
    {"sub": "\ud800", "exp": "4102444800"},
    {"sub": "alice", "exp": "tomorrow"},
    {"sub": "alice"},
    {"sub": "x" * 257, "exp": "4102444800"},
])
def test_handlers_refuse_ill_formed_claims_with_401(claims):
    event = json.loads((EVENTS / "balance/get.json").read_text())
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    ledger = Ledger()
    with bootstrap.override(ledger=ledger):
        status, body = invoke("balance", "BalanceFunction", event)
    assert (status, body["error"]["code"]) == (401, "unauthorized") and ledger.calls == []
