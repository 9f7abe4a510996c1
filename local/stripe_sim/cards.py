"""Stripe's own test cards the simulator honours, and how each behaves (as in Stripe test mode).

- ``4242424242424242``: succeeds, on the Checkout page and in later off-session charges.
- ``4000002760003184``: always requires authentication: the Checkout payment succeeds once the customer
  authenticates on the page; later off-session charges fail with ``authentication_required``.
- ``4000000000009995``: declined with ``insufficient_funds``.

Stripe's test PaymentMethod tokens (``pm_card_visa`` ...) name the same cards in API calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from local.stripe_sim.errors import invalid

SUCCEEDS = "succeeds"
AUTHENTICATION_REQUIRED = "authentication_required"
INSUFFICIENT_FUNDS = "insufficient_funds"
EXP_MONTH, EXP_YEAR = 12, 2034


@dataclass(frozen=True)
class TestCard:
    number: str
    behaviour: str
    brand: str = "visa"
    funding: str = "credit"
    country: str = "US"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        # Stable per card number, as Stripe's fingerprint is per account and number.
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


DEFAULT = "4242424242424242"
CARDS: dict[str, TestCard] = {
    card.number: card
    for card in (
        TestCard(DEFAULT, SUCCEEDS),
        TestCard("4000002760003184", AUTHENTICATION_REQUIRED, country="DE"),
        TestCard("4000000000009995", INSUFFICIENT_FUNDS),
    )
}
TOKENS: dict[str, str] = {
    "pm_card_visa": DEFAULT,
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
}


def card_for(number: str, param: str = "card") -> TestCard:
    card = CARDS.get(number.replace(" ", ""))
    if card is None:
        raise invalid(f"Use one of Stripe's test cards the simulator knows: {', '.join(CARDS)}.", param)
    return card


def card_of_last4(last4: str) -> TestCard:
    """The test card a stored PaymentMethod was made from (the three test cards' last4 differ)."""
    return next((c for c in CARDS.values() if c.last4 == last4), CARDS[DEFAULT])
