"""Ports: what the domain needs from storage and from the payment provider, as small Protocols."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from credits.catalog import Bundle


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
    ) -> CheckoutSessionRef: ...

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]: ...

    def list_completed_sessions(self, *, created_after: int) -> Iterator[dict[str, Any]]: ...

    def list_refunds(self, *, payment_intent: str) -> list[dict[str, Any]]: ...

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]: ...
