"""``PaymentGateway`` backed by Stripe: Checkout sessions, their reconciliation and refunds.

One responsibility: translate the domain's payment calls into Stripe API calls (real Stripe, a stripe-mock or
the local simulator, chosen by ``api_base``) and every Stripe failure into ``PaymentProviderError``.
Only the purchase and webhook paths import this module, so nothing else pays for ``import stripe``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import stripe

from credits.catalog import Bundle, Catalog, load_catalog
from credits.errors import PaymentProviderError
from credits.ports import CheckoutSessionRef

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

logger = logging.getLogger(__name__)

# Stripe caps list pages at 100; fewer round trips when reconciling.
_PAGE_SIZE = 100
# The API version the service, the webhook endpoint it registers and the local simulator all speak.
STRIPE_API_VERSION = "2026-05-27.dahlia"


class StripeProviderError(PaymentProviderError):
    """A ``PaymentProviderError`` that keeps Stripe's diagnostics for logs and callers, never for clients.

    ``envelope()`` (what the API returns) only carries the safe message; the attributes are for code that must
    tell "no such session" (``http_status == 404``) from an outage.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        stripe_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.stripe_code = stripe_code
        self.request_id = request_id


def _provider_error(exc: stripe.StripeError, action: str) -> StripeProviderError:
    # Stripe's own messages can echo a masked API key (AuthenticationError) or request data, so the message is
    # built from the error class and code only.
    kind = {
        stripe.AuthenticationError: "authentication with the payment provider failed",
        stripe.PermissionError: "the payment provider refused the request",
        stripe.RateLimitError: "the payment provider is rate limiting requests",
        stripe.APIConnectionError: "the payment provider could not be reached",
        stripe.IdempotencyError: "an idempotency key was reused with different parameters",
        stripe.InvalidRequestError: "the payment provider rejected the request",
    }
    reason = next((text for cls, text in kind.items() if isinstance(exc, cls)), "the payment provider failed")
    code = f" ({exc.code})" if exc.code else ""
    logger.warning(
        "stripe call failed",
        extra={
            "action": action,
            "error_class": type(exc).__name__,
            "http_status": exc.http_status,
            "stripe_code": exc.code,
            "request_id": exc.request_id,
        },
    )
    return StripeProviderError(
        f"Could not {action}: {reason}{code}.",
        http_status=exc.http_status,
        stripe_code=exc.code,
        request_id=exc.request_id,
    )


class StripeGateway:
    """The ``PaymentGateway`` port over ``stripe.StripeClient`` (stripe 16.x)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        catalog: Catalog | None = None,
        client: stripe.StripeClient | None = None,
    ) -> None:
        self._client = client or stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            # Retries reuse the request's idempotency key, so a retried create cannot make two sessions.
            max_network_retries=2,
            stripe_version=STRIPE_API_VERSION,
        )
        self._catalog = catalog
        self._price_ids: dict[str, str] = {}
        self._price_lock = threading.Lock()

    # PaymentGateway ---

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
    ) -> CheckoutSessionRef:
        price_id = self._price_id(bundle)
        # Session metadata does not reach the PaymentIntent/Charge, which refund/dispute events carry.
        metadata = {"user_id": user_id, "bundle": bundle.id, "credits": str(bundle.credits)}
        from credits.stripe_events import client_reference

        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [{"price": price_id, "quantity": 1}],
            "client_reference_id": client_reference(user_id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": dict(metadata)},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if customer:
            # Save the card for later off-session charges (auto-recharge). Stripe refuses customer_email with
            # customer: the customer already has the e-mail.
            params["customer"] = customer
            params["payment_intent_data"]["setup_future_usage"] = "off_session"
        elif email:
            params["customer_email"] = email
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            session = self._client.v1.checkout.sessions.create(params=params, options=options)
        except stripe.StripeError as exc:
            raise _provider_error(exc, "create the checkout session") from exc
        if not session.url:
            raise StripeProviderError("Could not create the checkout session: the provider returned no URL.")
        return CheckoutSessionRef(id=session.id, url=session.url)

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        try:
            return self._client.v1.checkout.sessions.retrieve(session_id).to_dict()
        except stripe.StripeError as exc:
            raise _provider_error(exc, "retrieve the checkout session") from exc

    def list_completed_sessions(self, *, created_after: int) -> Iterator[dict[str, Any]]:
        """Completed sessions created at or after ``created_after`` (unix seconds), newest first, as dicts.

        The bound is inclusive so a session created in the same second as the caller's watermark is never
        skipped; fulfilment is idempotent, so seeing one twice is harmless.
        """
        try:
            page = self._client.v1.checkout.sessions.list(
                params={"status": "complete", "created": {"gte": created_after}, "limit": _PAGE_SIZE}
            )
            for session in page.auto_paging_iter():
                yield session.to_dict()
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list checkout sessions") from exc

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        try:
            return self._client.v1.payment_intents.retrieve(payment_intent).to_dict()
        except stripe.StripeError as exc:
            raise _provider_error(exc, "retrieve the payment intent") from exc

    def list_refunds(self, *, payment_intent: str) -> list[dict[str, Any]]:
        try:
            page = self._client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": _PAGE_SIZE})
            return [refund.to_dict() for refund in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list refunds") from exc

    def list_disputes(self, *, payment_intent: str) -> list[dict[str, Any]]:
        try:
            page = self._client.v1.disputes.list(params={"payment_intent": payment_intent, "limit": _PAGE_SIZE})
            return [dispute.to_dict() for dispute in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list disputes") from exc

    def list_sessions_for_payment(self, payment_intent: str) -> list[dict[str, Any]]:
        try:
            page = self._client.v1.checkout.sessions.list(params={"payment_intent": payment_intent, "limit": 10})
            return [session.to_dict() for session in page.data]
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list checkout sessions") from exc

    def list_line_items(self, session_id: str) -> list[dict[str, Any]]:
        try:
            page = self._client.v1.checkout.sessions.line_items.list(session_id, params={"limit": _PAGE_SIZE})
            return [line.to_dict() for line in page.data]
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list the session's line items") from exc

    def create_customer(self, *, user_id: str, email: str | None, idempotency_key: str) -> str:
        params: dict[str, Any] = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        try:
            return str(self._client.v1.customers.create(params=params,  # type: ignore[arg-type]
                                                        options={"idempotency_key": idempotency_key}).id)
        except stripe.StripeError as exc:
            raise _provider_error(exc, "create the customer") from exc

    def retrieve_payment_method(self, payment_method: str) -> dict[str, Any]:
        try:
            return self._client.v1.payment_methods.retrieve(payment_method).to_dict()
        except stripe.StripeError as exc:
            raise _provider_error(exc, "retrieve the payment method") from exc

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
    ) -> dict[str, Any]:
        """Confirm an off-session PaymentIntent now. Answers the intent (``succeeded``, or another status); a card
        refusal answers the failed intent with ``last_payment_error`` instead of raising, as it is an outcome."""
        params: dict[str, Any] = {
            "amount": amount, "currency": currency, "customer": customer, "payment_method": payment_method,
            "off_session": True, "confirm": True, "metadata": metadata, "description": description,
        }
        try:
            intent = self._client.v1.payment_intents.create(params=params,  # type: ignore[arg-type]
                                                            options={"idempotency_key": idempotency_key})
            return intent.to_dict()
        except stripe.CardError as exc:
            error = exc.error
            refused = getattr(error, "payment_intent", None) if error else None
            failed: dict[str, Any] = refused.to_dict() if refused is not None and hasattr(refused, "to_dict") else {}
            failed.setdefault("status", "requires_payment_method")
            failed["last_payment_error"] = {"code": exc.code, "decline_code": getattr(error, "decline_code", None)}
            return failed
        except stripe.InvalidRequestError as exc:
            if exc.code in ("resource_missing", "payment_method_unactivated") or exc.param == "payment_method":
                return {"status": "requires_payment_method", "id": None,
                        "last_payment_error": {"code": exc.code or "payment_method_missing", "decline_code": None}}
            raise _provider_error(exc, "charge the saved card") from exc
        except stripe.StripeError as exc:
            raise _provider_error(exc, "charge the saved card") from exc

    def list_events(self, *, types: tuple[str, ...], created_gte: int) -> Iterator[dict[str, Any]]:
        """Events of these types created at or after ``created_gte`` (Stripe keeps 30 days), newest first."""
        try:
            page = self._client.v1.events.list(
                params={"types": list(types), "created": {"gte": created_gte}, "limit": _PAGE_SIZE}
            )
            for event in page.auto_paging_iter():
                yield event.to_dict()
        except stripe.StripeError as exc:
            raise _provider_error(exc, "list events") from exc

    # Prices ---

    def _price_id(self, bundle: Bundle) -> str:
        cached = self._price_ids.get(bundle.lookup_key)
        if cached is not None:
            return cached
        with self._price_lock:
            if bundle.lookup_key not in self._price_ids:
                self._load_prices(bundle)
        price_id = self._price_ids.get(bundle.lookup_key)
        if price_id is None:
            raise StripeProviderError(
                f"No active Stripe price for bundle '{bundle.id}' (lookup key '{bundle.lookup_key}'); "
                "run scripts/stripe_setup.py."
            )
        return price_id

    def _load_prices(self, bundle: Bundle) -> None:
        """Fetch the prices of every catalog bundle in one call (Stripe allows 10 lookup keys per list)."""
        catalog = self._catalog or load_catalog()
        keys = [b.lookup_key for b in catalog.bundles if b.lookup_key != bundle.lookup_key][:9]
        by_key = {b.lookup_key: b for b in catalog.bundles}
        by_key[bundle.lookup_key] = bundle
        try:
            prices = self._client.v1.prices.list(
                params={"lookup_keys": [bundle.lookup_key, *keys], "active": True, "limit": _PAGE_SIZE}
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc, "look up the bundle price") from exc
        for price in prices.data:
            expected = by_key.get(price.lookup_key or "")
            if expected is None:
                continue
            # The catalog is what the customer was shown; never charge a different amount for those credits.
            if price.unit_amount != expected.unit_amount or price.currency != expected.currency:
                logger.error(
                    "stripe price does not match the catalog",
                    extra={"lookup_key": price.lookup_key, "price": price.id},
                )
                if expected.lookup_key == bundle.lookup_key:
                    raise StripeProviderError(
                        f"The Stripe price for bundle '{bundle.id}' does not match the catalog; "
                        "run scripts/stripe_setup.py."
                    )
                continue
            self._price_ids[price.lookup_key or ""] = price.id
