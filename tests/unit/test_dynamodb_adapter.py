"""Adapter paths DynamoDB Local cannot produce, with a stubbed client: TransactionConflict retries, throttling, the
exact requests of the hot path, and cancellation reasons read by item name."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from credits.adapters.dynamo import MAX_CONFLICT_ATTEMPTS, Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.engine import AccountEngine
from credits.errors import InsufficientCredits, TransientStoreError
from credits.ledger import Ledger

NOW = 1_800_000_000.0


def make_ledger() -> tuple[Ledger, Stubber, list[float], Any]:
    # No botocore retries here: the test counts our own conflict retries.
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))
    sleeps: list[float] = []
    table = Table("t", client=client, sleep=sleeps.append)
    return Ledger(AccountEngine(DynamoLedgerStore(table), clock=lambda: NOW)), Stubber(client), sleeps, client


def cancelled(*codes: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    reasons = [{"Code": c, **({"Item": item} if item and c == "ConditionalCheckFailed" else {})} for c in codes]
    return {
        "service_error_code": "TransactionCanceledException",
        "service_message": "Transaction cancelled",
        "http_status_code": 400,
        "response_meta": {},
        "modeled_fields": {"CancellationReasons": reasons},
    }


def add_error(stubber: Stubber, spec: dict[str, Any]) -> None:
    stubber.add_client_error("transact_write_items", **spec, expected_params=None)


OK = ("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
BALANCE = {"PK": {"S": "USER#u"}, "SK": {"S": "BALANCE"}, "available": {"N": "3"}, "held": {"N": "0"},
           "unallocated": {"N": "0"}, "v": {"N": "4"}, "nx": {"N": "9999999999999"},
           "updated_at": {"S": "2026-01-01T00:00:00.000Z"}}
BOOK = {"PK": {"S": "USER#u"}, "SK": {"S": "BALANCE#GRANTS"}, "v": {"N": "4"},
        "grants": {"S": '[{"i":"gr_1","a":3,"c":"paid","s":"grant","p":50,"t":1,"rm":3}]'}}


def test_transaction_conflict_is_retried_with_jitter_then_succeeds():
    ledger, stubber, sleeps, _ = make_ledger()
    add_error(stubber, cancelled("TransactionConflict", "None"))
    add_error(stubber, cancelled("None", "TransactionConflict"))
    stubber.add_response(*OK)
    with stubber:
        result = ledger.consume("u", 2, "x")
    assert result.amount == 2 and not result.replayed
    assert len(sleeps) == 2 and all(0 <= s <= 0.5 for s in sleeps)
    stubber.assert_no_pending_responses()


def test_transaction_conflict_retries_are_bounded_and_become_a_503():
    ledger, stubber, sleeps, _ = make_ledger()
    for _ in range(MAX_CONFLICT_ATTEMPTS):
        add_error(stubber, cancelled("TransactionConflict", "None"))
    with stubber, pytest.raises(TransientStoreError) as err:
        ledger.consume("u", 2, "x")
    assert err.value.status == 503
    assert len(sleeps) == MAX_CONFLICT_ATTEMPTS - 1


def test_a_failed_balance_condition_is_not_retried_and_maps_to_insufficient_credits():
    ledger, stubber, sleeps, _ = make_ledger()
    # Reasons are read by item name ("balance" is the first item of a spend), not by position in a caller.
    add_error(stubber, cancelled("ConditionalCheckFailed", "None", item=BALANCE))
    with stubber, pytest.raises(InsufficientCredits) as err:
        ledger.consume("u", 5, "x")
    assert (err.value.available, err.value.required, err.value.status) == (3, 5, 402)
    assert sleeps == []


def test_each_conflict_retry_uses_a_fresh_client_request_token():
    ledger, stubber, _, client = make_ledger()
    tokens: list[str] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", lambda params, **_: tokens.append(params["ClientRequestToken"])
    )
    add_error(stubber, cancelled("TransactionConflict", "None"))
    stubber.add_response(*OK)
    with stubber:
        ledger.consume("u", 1)
    # A conflict-cancelled attempt applied nothing; reusing its token could replay the cancellation.
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_throttling_after_botocore_retries_is_a_503():
    ledger, stubber, _, _ = make_ledger()
    stubber.add_client_error("transact_write_items", service_error_code="ThrottlingException", http_status_code=400)
    with stubber, pytest.raises(TransientStoreError):
        ledger.consume("u", 1)


def test_consume_is_one_request_and_no_read():
    ledger, stubber, _, client = make_ledger()
    calls: list[str] = []
    client.meta.events.register("provide-client-params.dynamodb", lambda model, **_: calls.append(model.name))
    stubber.add_response(*OK)
    with stubber:
        ledger.consume("u", 1)
    assert calls == ["TransactWriteItems"]


def test_consume_with_return_balance_adds_exactly_one_read():
    ledger, stubber, _, client = make_ledger()
    calls: list[str] = []
    client.meta.events.register("provide-client-params.dynamodb", lambda model, **_: calls.append(model.name))
    stubber.add_response(*OK)
    stubber.add_response("query", {"Items": [BALANCE, BOOK]})
    with stubber:
        result = ledger.consume("u", 1, return_balance=True)
    assert calls == ["TransactWriteItems", "Query"]
    assert result.to_dict()["available"] == 3


def test_read_throttling_and_outages_are_503_not_500():
    from botocore.exceptions import EndpointConnectionError

    ledger, stubber, _, client = make_ledger()
    stubber.add_client_error("query", service_error_code="ProvisionedThroughputExceededException",
                             http_status_code=400)
    with stubber, pytest.raises(TransientStoreError):
        ledger.balance("u")

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://dynamodb")

    client.meta.events.register("before-send.dynamodb.Query", unreachable)
    with pytest.raises(TransientStoreError):
        ledger.history("u", limit=5, cursor=None, entry_type=None)


def test_a_failed_balance_read_after_a_committed_spend_still_reports_the_spend():
    """The credits moved: answering 5xx would invite a retry that spends twice."""
    ledger, stubber, _, _ = make_ledger()
    stubber.add_response(*OK)
    stubber.add_client_error("query", service_error_code="ThrottlingException", http_status_code=400)
    with stubber:
        result = ledger.consume("u", 2, return_balance=True)
    assert result.amount == 2 and result.transaction_id.startswith("tx_")
    assert result.to_dict()["balance"] is None and result.to_dict()["available"] is None


def test_a_torn_read_of_balance_and_book_is_read_again():
    """A Query is read-committed per item: counters of version 5 with the book of version 4 must never be used."""
    ledger, stubber, _, _ = make_ledger()
    newer = {**BALANCE, "v": {"N": "5"}}
    stubber.add_response("query", {"Items": [newer, BOOK]})
    stubber.add_response("query", {"Items": [newer, {**BOOK, "v": {"N": "5"}}]})
    with stubber:
        balance = ledger.balance("u")
    assert balance.available == 3
    stubber.assert_no_pending_responses()
