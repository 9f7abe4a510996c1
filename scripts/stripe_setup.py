"""Create or update, idempotently, the Stripe product and one Price per catalog bundle (found by lookup_key).

Run from anywhere: ``.venv/bin/python scripts/stripe_setup.py``. Needs ``STRIPE_SECRET_KEY``;
``STRIPE_API_BASE`` (optional) points it at the local simulator or a stripe-mock instead of Stripe.
Prints one line per bundle: bundle id, lookup key, price id and what was done.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import stripe

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "layers" / "credits"))

from credits.catalog import Bundle, Catalog, load_catalog  # noqa: E402 - needs the layer on sys.path

if TYPE_CHECKING:
    from stripe.params import PriceCreateParams

# A fixed product id (Stripe accepts custom ones) makes "find the product" a single retrieve.
PRODUCT_ID = "credits_bundle"
PRODUCT_NAME = "Credits Bundle"


@dataclass(frozen=True)
class PriceResult:
    bundle: str
    lookup_key: str
    price_id: str
    action: str  # "reused", "reactivated" or "created"


def ensure_product(client: stripe.StripeClient) -> str:
    try:
        product = client.v1.products.retrieve(PRODUCT_ID)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise
        product = client.v1.products.create(
            params={
                "id": PRODUCT_ID,
                "name": PRODUCT_NAME,
                "metadata": {"managed_by": "scripts/stripe_setup.py"},
            },
            options={"idempotency_key": f"stripe-setup-product-{PRODUCT_ID}"},
        )
        return product.id
    if not product.active or product.name != PRODUCT_NAME:
        client.v1.products.update(PRODUCT_ID, params={"active": True, "name": PRODUCT_NAME})
    return product.id


def ensure_price(client: stripe.StripeClient, product_id: str, bundle: Bundle) -> PriceResult:
    existing = client.v1.prices.list(params={"lookup_keys": [bundle.lookup_key], "limit": 1}).data
    current = existing[0] if existing else None
    if current is not None and current.unit_amount == bundle.unit_amount and current.currency == bundle.currency:
        if current.active:
            return PriceResult(bundle.id, bundle.lookup_key, current.id, "reused")
        client.v1.prices.update(current.id, params={"active": True})
        return PriceResult(bundle.id, bundle.lookup_key, current.id, "reactivated")
    # Prices are immutable in amount: a change is a new price that takes over the lookup key.
    params: PriceCreateParams = {
        "product": product_id,
        "unit_amount": bundle.unit_amount,
        "currency": bundle.currency,
        "lookup_key": bundle.lookup_key,
        "transfer_lookup_key": current is not None,
        "nickname": bundle.name,
        "metadata": {"bundle": bundle.id, "credits": str(bundle.credits)},
    }
    # The key names what it replaces, so a rerun after a crash reuses the price instead of making another.
    previous = current.id if current is not None else "none"
    key = f"stripe-setup-price-{bundle.lookup_key}-{bundle.unit_amount}-{bundle.currency}-{previous}"
    created = client.v1.prices.create(params=params, options={"idempotency_key": key})
    if current is not None and current.active:
        # Old checkout links keep working on Stripe; only new sessions must not use the old amount.
        client.v1.prices.update(current.id, params={"active": False})
    return PriceResult(bundle.id, bundle.lookup_key, created.id, "created")


def make_client(api_key: str, api_base: str | None = None) -> stripe.StripeClient:
    # The API version the service, its webhook endpoint and the simulator speak (credits.stripe_gateway).
    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base.rstrip("/")} if api_base else None, max_network_retries=2,
        stripe_version="2026-05-27.dahlia",
    )


def setup(
    api_key: str | None = None,
    *,
    api_base: str | None = None,
    client: stripe.StripeClient | None = None,
    catalog: Catalog | None = None,
) -> list[PriceResult]:
    """Ensure the product and each bundle's price exist. Pass ``api_key`` (+ ``api_base``) or ``client``."""
    if client is None:
        if not api_key:
            raise ValueError("setup() needs api_key or client")
        client = make_client(api_key, api_base)
    product_id = ensure_product(client)
    return [ensure_price(client, product_id, bundle) for bundle in (catalog or load_catalog()).bundles]


def main() -> int:
    api_key = os.environ.get("STRIPE_SECRET_KEY", "").strip()
    if not api_key:
        print(
            "STRIPE_SECRET_KEY is required (a sk_test_... key; any one works with the local simulator).",
            file=sys.stderr,
        )
        return 2
    api_base = os.environ.get("STRIPE_API_BASE", "").strip() or None
    try:
        results = setup(api_key, api_base=api_base)
    except stripe.StripeError as exc:
        # The class and code are enough to act on; Stripe's message may echo part of the key.
        print(
            f"Stripe setup failed: {type(exc).__name__} (status {exc.http_status}, code {exc.code})",
            file=sys.stderr,
        )
        return 1
    for result in results:
        print(f"{result.bundle:<12} {result.lookup_key:<28} {result.price_id}  ({result.action})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
