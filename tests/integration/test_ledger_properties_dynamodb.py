"""The stateful property test of tests/unit/test_ledger_properties.py, on DynamoDB Local (bounded examples)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from test_ledger_properties import LedgerMachine

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.adapters.dynamo_purchases import DynamoPurchaseStore


class DynamoStores(DynamoLedgerStore, DynamoPurchaseStore):
    """Both adapters over one table, as deployed (each example uses a new user id)."""


def test_ledger_matches_the_reference_model_on_dynamodb_local(ddb_client: Any, table: str) -> None:
    class OnDynamo(LedgerMachine):
        store_factory = staticmethod(lambda: DynamoStores(Table(table, client=ddb_client)))  # type: ignore[assignment]

    run_state_machine_as_test(OnDynamo, settings=settings(
        max_examples=8, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)))
