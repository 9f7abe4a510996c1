"""Local Stripe simulator: the Stripe API subset the service uses, a hosted-checkout page, signed webhooks.

One responsibility: behave like Stripe test mode (API version ``2026-05-27.dahlia``) for the local stack
(``make dev``) and the tests, with no network. Standard library only. Split by resource:

- ``core``: routing, authentication, idempotency, rendering, the request log; ``forms``: Stripe's form
  encoding and parameter checks; ``errors``: Stripe's error shapes; ``state``: objects, persistence, lists,
  expansion;
- ``events``: recording, signing and delivering events (to the default webhook and to webhook endpoints),
  the events API and resend; ``webhook_endpoints``;
- ``products``, ``prices``, ``checkout``, ``payment_intents``, ``charges`` (and balance transactions),
  ``refunds``, ``disputes``, ``customers``, ``payment_methods``; ``cards``: the test cards;
- ``sim_routes`` and ``pages``: what a customer or the bank does (pay, cancel, bank results, refunds that
  succeed later or fail) and the hosted Checkout page.

``python -m local.stripe_sim --port 12111`` serves it stand-alone.
"""

from __future__ import annotations

from local.stripe_sim.core import API_VERSION, PREFIX
from local.stripe_sim.errors import StripeApiError
from local.stripe_sim.events import sign_payload
from local.stripe_sim.forms import parse_form
from local.stripe_sim.server import main, make_request_handler
from local.stripe_sim.simulator import StripeSimulator

__all__ = [
    "API_VERSION",
    "PREFIX",
    "StripeApiError",
    "StripeSimulator",
    "main",
    "make_request_handler",
    "parse_form",
    "sign_payload",
]
