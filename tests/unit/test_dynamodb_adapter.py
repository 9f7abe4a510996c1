"""Adapter paths DynamoDB Local cannot produce, with a stubbed client: TransactionConflict retries and throttling."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from credits.dynamodb import MAX_CONFLICT_ATTEMPTS, DynamoLedgerStore
from credits.errors import InsufficientCredits, TransientStoreError
from credits.ledger import Ledger


def make_store() -> tuple[DynamoLedgerStore, Stubber, list[float]]:
    # No botocore retries here: the test counts our own conflict retries.
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))
    sleeps: list[float] = []
    return DynamoLedgerStore("t", client=client, sleep=sleeps.append), Stubber(client), sleeps


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


BALANCE = {"Item": {"PK": {"S": "USER#u"}, "SK": {"S": "BALANCE"}, "available": {"N": "3"}, "held": {"N": "0"},
                    "updated_at": {"S": "2026-01-01T00:00:00.000Z"}}}


def test_transaction_conflict_is_retried_with_jitter_then_succeeds():
    store, stubber, sleeps = make_store()
    add_error(stubber, cancelled("TransactionConflict", "None"))
    add_error(stubber, cancelled("None", "TransactionConflict"))
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    stubber.add_response("get_item", BALANCE)
    with stubber:
        result = Ledger(store).consume("u", 2, "x")
    assert result.amount == 2 and result.balance.available == 3
    assert len(sleeps) == 2 and all(0 <= s <= 0.5 for s in sleeps)
    stubber.assert_no_pending_responses()


def test_transaction_conflict_retries_are_bounded_and_become_a_503():
    store, stubber, sleeps = make_store()
    for _ in range(MAX_CONFLICT_ATTEMPTS):
        add_error(stubber, cancelled("TransactionConflict", "None"))
    with stubber, pytest.raises(TransientStoreError) as err:
        Ledger(store).consume("u", 2, "x")
    assert err.value.status == 503
    assert len(sleeps) == MAX_CONFLICT_ATTEMPTS - 1


def test_conditional_failure_is_not_retried_and_maps_to_insufficient_credits():
    store, stubber, sleeps = make_store()
    add_error(stubber, cancelled("ConditionalCheckFailed", "None", item=BALANCE["Item"]))
    with stubber, pytest.raises(InsufficientCredits) as err:
        Ledger(store).consume("u", 5, "x")
    assert (err.value.available, err.value.required, err.value.status) == (3, 5, 402)
    assert sleeps == []


def test_each_conflict_retry_uses_a_fresh_client_request_token():
    store, stubber, _ = make_store()
    tokens: list[str] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", lambda params, **_: tokens.append(params["ClientRequestToken"])
    )
    add_error(stubber, cancelled("TransactionConflict", "None"))
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    stubber.add_response("get_item", BALANCE)
    with stubber:
        Ledger(store).consume("u", 1)
    # A conflict-cancelled attempt applied nothing; reusing its token could replay the cancellation.
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_throttling_after_botocore_retries_is_a_503():
    store, stubber, _ = make_store()
    stubber.add_client_error("transact_write_items", service_error_code="ThrottlingException", http_status_code=400)
    with stubber, pytest.raises(TransientStoreError):
        Ledger(store).consume("u", 1)


def test_consume_makes_one_write_and_no_read_before_it():
    store, stubber, _ = make_store()
    calls: list[str] = []
    store.client.meta.events.register("provide-client-params.dynamodb", lambda model, **_: calls.append(model.name))
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    stubber.add_response("get_item", BALANCE)
    with stubber:
        Ledger(store).consume("u", 1)
    assert calls == ["TransactWriteItems", "GetItem"]  # the read only reports the balance after the write


def test_read_throttling_and_outages_are_503_not_500():
    from botocore.exceptions import EndpointConnectionError

    store, stubber, _ = make_store()
    stubber.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException",
                             http_status_code=400)
    with stubber, pytest.raises(TransientStoreError):
        Ledger(store).balance("u")

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://dynamodb")

    store.client.meta.events.register("before-send.dynamodb.Query", unreachable)
    with pytest.raises(TransientStoreError):
        Ledger(store).history("u", limit=5, cursor=None, entry_type=None)


def test_a_failed_balance_read_after_a_committed_spend_still_reports_the_spend():
    """The credits moved: answering 5xx would invite a retry that spends twice."""
    store, stubber, _ = make_store()
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    stubber.add_client_error("get_item", service_error_code="ThrottlingException", http_status_code=400)
    with stubber:
        result = Ledger(store).consume("u", 2)
    assert result.amount == 2 and result.transaction_id.startswith("tx_")
    assert result.to_dict()["balance"] is None and result.to_dict()["available"] is None
