"""The bench's in-process services: the product's own wiring (``credits.bootstrap``) on one counted boto3 client.

``build(client, table)`` hands ``bootstrap.configure`` the DynamoDB adapters on an injected ``Table`` (so every
request goes through the client the ``RequestCounter`` hooks), no welcome grant, and ``BenchGateway`` in place of
Stripe; the ``Ledger``, ``GrantService`` and ``PurchaseService`` are then the ones ``bootstrap`` builds for the
handlers. ``fund`` gives a user credits the way an operator does: a grant (``GrantService.create_grant``).
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass
from typing import Any

# Shaped like real values so the config checks pass; nothing ever reaches Stripe (the gateway is injected).
BENCH_STRIPE_KEY = "sk_test_BenchOnlyNotARealKey0000000000"
BENCH_WEBHOOK_SECRET = "whsec_bench_only_not_a_real_secret_0000"
BENCH_DASHBOARD_URL = "http://bench.invalid"


class BenchGateway:
    """The part of ``PaymentGateway`` fulfilment uses: Stripe's copy of a session is the one the bench registered.

    ``PurchaseService.handle_event`` retrieves the session from Stripe before acting (Stripe's API is the source of
    truth); here that lookup is a dict, so the figures are the DynamoDB side of fulfilment alone. Anything else is
    not part of a measured path and raises.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}

    def add(self, session: dict[str, Any]) -> None:
        self.sessions[session["id"]] = copy.deepcopy(session)

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.sessions[session_id])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def unused(*_: Any, **__: Any) -> Any:
            raise NotImplementedError(f"BenchGateway.{name}: not used by the measured paths")

        return unused


@dataclass
class Services:
    ledger: Any  # credits.ledger.Ledger
    grants: Any  # credits.grants.GrantService
    purchases: Any  # credits.purchases.PurchaseService
    gateway: BenchGateway
    client: Any
    table_name: str


def build(client: Any, table_name: str) -> Services:
    """Wire the services on ``client`` (tables already created). Sets the few settings their config reads."""
    from credits import bootstrap
    from credits.adapters.dynamo import Table
    from credits.adapters.dynamo_ledger import DynamoLedgerStore
    from credits.adapters.dynamo_purchases import DynamoPurchaseStore

    # What the functions' environment gives them (template.yaml): the table (settings are read on a 402), the Stripe
    # key's source (checked for shape only: the gateway is injected) and the dashboard's URL (Checkout return URLs).
    os.environ["TABLE_NAME"] = table_name
    os.environ["STRIPE_SECRET_KEY"] = BENCH_STRIPE_KEY
    os.environ["DASHBOARD_URL"] = BENCH_DASHBOARD_URL
    table = Table(table_name, client=client)
    gateway = BenchGateway()
    bootstrap.reset()
    bootstrap.configure(ledger_store=DynamoLedgerStore(table), purchase_store=DynamoPurchaseStore(table),
                        gateway=gateway, dynamodb_client=client, welcome=None)  # type: ignore[arg-type]
    return Services(bootstrap.ledger(), bootstrap.grants(), bootstrap.purchases(), gateway, client, table_name)


def fund(grants: Any, user: str, amount: int, *, description: str = "bench grant", **grant: Any) -> str:
    """A grant of ``amount`` credits (never expiring unless ``expires_at``/``expires_in_days`` say); its id."""
    created = grants.create_grant(user, amount, idempotency_key=uuid.uuid4().hex, description=description,
                                  source="adjustment", entry_type="adjustment", **grant)
    return str(created.grant.grant_id)
