"""Ports: what the domain needs from storage and from the payment provider, as small Protocols.

The ledger talks to ``LedgerStore`` and the purchase service to ``PurchaseStore``; the DynamoDB adapters
(``credits.adapters.dynamo_*``) and the in-memory one (``credits.adapters.memory``) implement both and pass one
contract suite (tests/unit/test_grant_rules.py and test_recharge_store_contract.py run on both). A store enforces
every condition listed on its methods inside one atomic write; the domain decides amounts, ids and times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from credits.account import AccountState, DraftResult, HoldMarker
    from credits.catalog import Bundle
    from credits.grant_lot import LiveGrant
    from credits.models import Entry, Hold, Purchase


# --- errors a store raises (the domain turns them into API errors or retries) ----------------------------------------
class AlreadyApplied(Exception):
    """The idempotency record exists with the same request: the caller answers the stored result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("already applied")
        self.result = result


class SpendRefused(Exception):
    """The fast-path spend's condition failed; ``state`` is the account as the condition saw it (None = no account).

    The ledger tells "not enough credits" from "something expired / not migrated yet: take the slow path" by it.
    """

    def __init__(self, state: AccountState | None) -> None:
        super().__init__("spend refused")
        self.state = state


class StaleAccount(Exception):
    """The account changed since it was read (version, existence, or available no longer covering what the write
    takes from grants): read it again and recompute."""


class PurchaseMismatch(Exception):
    """The purchase record belongs to another user or bundle than the event claims."""


class PurchaseAlreadyFulfilled(Exception):
    """The purchase was fulfilled by an earlier delivery."""


class PurchaseChanged(Exception):
    """The purchase's clawback state changed since it was read: read it again and retry."""


# --- writes ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdempotencyWrite:
    operation: str
    key_digest: str
    request_hash: str
    result: dict[str, Any]


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    result: dict[str, Any]


@dataclass(frozen=True)
class SpendWrite:
    """The hot path: one conditional transaction, no read before it.

    Conditions: the account exists in the grants layout, ``available >= amount``, ``next_expiry > now_ms``;
    the idempotency record (if any) does not exist yet. Effects: available -= amount, unallocated += amount, seq += 1,
    updated_at; the entry is appended.
    """

    user_id: str
    amount: int
    entry: Entry
    now_ms: int
    idempotency: IdempotencyWrite | None = None


@dataclass(frozen=True)
class HoldResolution:
    """Resolve a pending hold. Condition: still ``pending`` with this amount and, unless ``status`` is expired,
    ``expires_epoch > now``; its marker is deleted in the same write."""

    hold: Hold
    status: str
    captured: int
    released: int
    now_ms: int
    resolved_at: str


@dataclass(frozen=True)
class PurchaseFulfil:
    """Condition: not fulfilled yet, and (no owner yet, or the same user and bundle)."""

    purchase: Purchase
    payment_intent: str | None


@dataclass(frozen=True)
class PurchaseClawback:
    """Condition: the purchase's ``credits_clawed_back`` is still ``expect_taken`` (state-based clawback rule)."""

    session_id: str
    expect_taken: int
    taken: int
    status: str
    refunded_amount: int


@dataclass(frozen=True)
class RechargeSettle:
    """A recharge's credits arrive: its record becomes ``succeeded`` and the user's ``in_flight`` is freed, in the
    same transaction as the grant. Condition: the record is not settled yet."""

    user_id: str
    recharge_id: str


@dataclass(frozen=True)
class RechargeState:
    """A user's auto-recharge state (``USER#<sub> / RECHARGE``); the preferences live in the settings."""

    user_id: str
    customer_id: str | None = None
    payment_method: str | None = None
    brand: str = ""
    last4: str = ""
    failures: int = 0
    last_failure_ms: int | None = None
    last_failure_reason: str | None = None
    needs_payment_method: bool = False
    in_flight: str | None = None
    month: str | None = None
    started: int = 0


@dataclass(frozen=True)
class RechargeRecord:
    user_id: str
    recharge_id: str
    status: str  # requested -> succeeded | failed
    bundle: str
    credits: int
    amount: int
    currency: str
    payment_intent: str | None
    reason: str | None
    created_at: str
    created_ms: int
    # Fixed when the recharge starts, so a retry charges what the first attempt charged (Stripe refuses an
    # idempotency key reused with other parameters) and a catalog change cannot alter what was sold.
    customer_id: str | None = None
    payment_method: str | None = None
    expires_after_days: int | None = None


@dataclass(frozen=True)
class AccountWrite:
    """Everything one slow-path change writes, atomically.

    ``mode``: ``create`` (condition: no account yet), ``migrate`` (a pre-grants balance without a version) or
    ``update`` (condition: ``version == expect_version`` and, when ``result.require_available`` is set,
    ``available >= require_available``). The version then becomes ``expect_version + 1``.
    """

    user_id: str
    mode: Literal["create", "migrate", "update"]
    expect_version: int
    result: DraftResult
    updated_at: str
    now_ms: int
    new_hold: Hold | None = None
    resolve_hold: HoldResolution | None = None
    idempotency: IdempotencyWrite | None = None
    purchase: PurchaseFulfil | PurchaseClawback | None = None
    recharge: RechargeSettle | None = None


# --- the ports ------------------------------------------------------------------------------------------------------
class LedgerStore(Protocol):
    def load_account(self, user_id: str) -> AccountState:
        """The balance counters and the book, read together (one consistent request)."""
        ...

    def spend(self, write: SpendWrite) -> None:
        """Raises ``SpendRefused``, ``AlreadyApplied`` or ``IdempotencyKeyReused``."""
        ...

    def commit(self, write: AccountWrite) -> None:
        """Raises ``StaleAccount``, ``AlreadyApplied``, ``IdempotencyKeyReused``, ``HoldNotPending``/``HoldExpired``
        (from ``resolve_hold``), ``PurchaseAlreadyFulfilled``/``PurchaseMismatch``/``PurchaseChanged``."""
        ...

    def idempotency_record(
        self, user_id: str, operation: str, key_digest: str, now_ms: int
    ) -> IdempotencyRecord | None:
        """The record of a key used in the last 7 days (older ones are new keys again, whether or not TTL deleted
        them yet)."""
        ...

    def remember(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> IdempotencyRecord | None:
        """Record a key's result for an operation that moves no credits (a Checkout session); answers the record
        already there instead when the key is taken (used less than 7 days ago)."""
        ...

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        """Raises ``NotFound``."""
        ...

    def note_refusal(self, user_id: str, now_iso: str) -> None:
        """Record a 402 on the balance item (no credits move): the change path may start a recharge from it."""
        ...

    def due_hold_markers(self, user_id: str, after_sort_key: str, until_ms: int, limit: int) -> list[HoldMarker]:
        """Pending-hold markers with sort key > ``after_sort_key`` whose hold expired at or before ``until_ms``."""
        ...

    def next_hold_expiry(self, user_id: str, until_ms: int) -> int | None:
        """Expiry (ms) of the first pending-hold marker expiring after ``until_ms``; None when there is none."""
        ...

    def query_entries(
        self, user_id: str, entry_type: str | None, limit: int, after_sort_key: str | None
    ) -> tuple[list[Entry], str | None]: ...

    def grant_record(self, user_id: str, grant_id: str) -> LiveGrant | None: ...

    def query_grant_records(
        self, user_id: str, limit: int, after_sort_key: str | None
    ) -> tuple[list[LiveGrant], str | None]:
        """Archived and live grants' records, newest first."""
        ...

    def due_hold_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        """(user_id, marker sort key) of pending holds past expiry, across users (the sweeper)."""
        ...

    def due_grant_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        """(user_id, marker sort key) of grants past expiry, across users (the sweeper)."""
        ...

    def tidy_settled_holds(self, user_id: str, marker_sort_keys: list[str], resolved_at: str) -> int:
        """Mark holds whose credits were already returned (markers at or below the watermark) ``expired`` and delete
        their markers. Moves no credits. Returns how many it tidied."""
        ...

    def delete_grant_marker(self, user_id: str, marker_sort_key: str) -> None: ...


class PurchaseStore(Protocol):
    def put_purchase(self, purchase: Purchase) -> None:
        """Record a pending checkout session; an existing record is kept (a replayed key maps to the same session)."""
        ...

    def get_purchase(self, session_id: str) -> Purchase | None: ...

    def find_purchase_by_payment(self, payment_intent: str) -> Purchase | None: ...

    def mark_mismatch(self, session_id: str, reason: str, now_iso: str) -> None: ...

    def set_purchase_status(self, session_id: str, status: str, now_iso: str) -> bool:
        """Mark a not-yet-fulfilled purchase failed/expired; False when it is fulfilled (events arrive late)."""
        ...

    def get_checkpoint(self, name: str) -> int | None:
        """A scheduled job's progress marker (reconciliation's last replayed event time)."""
        ...

    def put_checkpoint(self, name: str, value: int) -> None: ...


class RechargeStore(Protocol):
    def state(self, user_id: str) -> RechargeState | None: ...

    def set_customer(self, user_id: str, customer_id: str, now_iso: str) -> str:
        """Store the user's Stripe Customer unless one is stored already; answers the one stored."""
        ...

    def save_card(
        self, user_id: str, customer_id: str | None, payment_method: str, brand: str, last4: str, now_iso: str
    ) -> None:
        """A new saved card: clears ``needs_payment_method`` and the failure count."""
        ...

    def reset_failures(self, user_id: str, now_iso: str) -> None: ...

    def start(self, record: RechargeRecord, *, month: str, monthly_limit: int, retry_cutoff_ms: int) -> bool:
        """One conditional write: nothing in flight, under the month's limit, no failure after ``retry_cutoff_ms``,
        a card, fewer than 3 failures; then ``in_flight`` = the record, the month's count + 1, the record created.
        False when a condition failed (or the record exists: the same trigger again)."""
        ...

    def record(self, user_id: str, recharge_id: str) -> RechargeRecord | None: ...

    def auto_recharge_enabled(self, user_id: str) -> bool:
        """The user's ``auto_recharge.enabled`` as stored now (a charge not yet made is not made once it is off)."""
        ...

    def set_payment_intent(self, user_id: str, recharge_id: str, payment_intent: str) -> None: ...

    def fail(self, user_id: str, recharge_id: str, reason: str, missing_card: bool, now_ms: int) -> bool:
        """Record a failure once (the record was in flight): ``in_flight`` freed, the failure counted."""
        ...

    def in_flight(self, older_than_ms: int) -> list[tuple[str, str]]:
        """(user_id, recharge_id) of recharges requested before ``older_than_ms`` and not settled."""
        ...


@dataclass(frozen=True)
class CheckoutSessionRef:
    id: str
    url: str


class PaymentGateway(Protocol):
    """The subset of Stripe the service uses. Raises ``PaymentProviderError`` on any provider failure."""

    def create_checkout_session(
        self,
        *,
        user_id: str,
        email: str | None,
        bundle: Bundle,
        success_url: str,
        cancel_url: str,
        idempotency_key: str | None,
        customer: str | None = None,
    ) -> CheckoutSessionRef: ...

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]: ...

    def list_completed_sessions(self, *, created_after: int) -> Iterator[dict[str, Any]]: ...

    def list_refunds(self, *, payment_intent: str) -> list[dict[str, Any]]: ...

    def list_disputes(self, *, payment_intent: str) -> list[dict[str, Any]]: ...

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]: ...

    def list_sessions_for_payment(self, payment_intent: str) -> list[dict[str, Any]]: ...

    def list_line_items(self, session_id: str) -> list[dict[str, Any]]: ...

    def list_events(self, *, types: tuple[str, ...], created_gte: int) -> Iterator[dict[str, Any]]: ...

    def create_customer(self, *, user_id: str, email: str | None, idempotency_key: str) -> str: ...

    def retrieve_payment_method(self, payment_method: str) -> dict[str, Any]: ...

    def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: dict[str, str],
        description: str,
        idempotency_key: str,
    ) -> dict[str, Any]: ...
