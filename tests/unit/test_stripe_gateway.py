"""StripeGateway: the exact Stripe requests it makes, its price cache, retries and error mapping.

The real ``stripe`` library runs unmodified; only its HTTP transport is swapped for one that calls the local
simulator in-process (no sockets), so every request can be inspected.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "credits"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from credits.catalog import Bundle, load_catalog  # noqa: E402
from credits.errors import PaymentProviderError  # noqa: E402
from credits.ports import PaymentGateway  # noqa: E402
from credits.stripe_gateway import StripeGateway, StripeProviderError  # noqa: E402
from local.stripe_sim import StripeSimulator, parse_form  # noqa: E402

KEY = "sk_test_unit_gateway_key_1234"
BASE = "http://sim.test"


class InProcessHTTP(stripe.HTTPClient):
    """A stripe HTTP transport that hands requests to the simulator and records them."""

    name = "in-process"

    def __init__(self, sim: StripeSimulator) -> None:
        super().__init__()
        self.sim = sim
        self.calls: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.fail_with: list[int] = []  # statuses to answer before reaching the simulator

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any) -> Any:
        split = urlsplit(url)
        body = post_data.encode() if isinstance(post_data, str) else (post_data or b"")
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        params = parse_form(body.decode() if method == "post" else split.query)
        self.calls.append((method.upper(), split.path, params, lower))
        if self.fail_with:
            status = self.fail_with.pop(0)
            return json.dumps({"error": {"type": "api_error", "message": "Simulated outage"}}), status, {}
        status, out_headers, payload = self.sim.handle(method, split.path, split.query, lower, body)
        return payload.decode(), status, out_headers

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def close(self) -> None:
        pass

    def to(self, path: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        return [(m, p, h) for m, pth, p, h in self.calls if pth == "/_stripe" + path]


@pytest.fixture
def sim() -> StripeSimulator:
    return StripeSimulator(public_base=BASE, webhook_url=None, webhook_secret="whsec_unit")


@pytest.fixture
def http(sim: StripeSimulator, monkeypatch: pytest.MonkeyPatch) -> InProcessHTTP:
    transport = InProcessHTTP(sim)
    # The gateway builds its own StripeClient; give that client our transport.
    monkeypatch.setattr("stripe._stripe_client.new_default_http_client", lambda **_: transport)
    return transport


@pytest.fixture
def prices(sim: StripeSimulator, http: InProcessHTTP) -> dict[str, str]:
    client = stripe.StripeClient(KEY, base_addresses={"api": sim.api_base})
    product = client.v1.products.create(params={"name": "Credits Bundle"})
    out = {}
    for bundle in load_catalog().bundles:
        price = client.v1.prices.create(
            params={
                "product": product.id,
                "unit_amount": bundle.unit_amount,
                "currency": bundle.currency,
                "lookup_key": bundle.lookup_key,
            }
        )
        out[bundle.id] = price.id
    http.calls.clear()
    return out


@pytest.fixture
def gateway(sim: StripeSimulator, http: InProcessHTTP) -> StripeGateway:
    return StripeGateway(KEY, api_base=sim.api_base + "/")


def bundle(bundle_id: str = "standard") -> Bundle:
    found = load_catalog().get(bundle_id)
    assert found is not None
    return found


def checkout(gw: StripeGateway, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "user_id": "user-7",
        "email": "seven@example.com",
        "bundle": bundle(),
        "success_url": "https://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.test/cancel",
        "idempotency_key": "purchase-user-7-1",
    }
    args.update(overrides)
    return gw.create_checkout_session(**args)


def test_is_a_payment_gateway(gateway: StripeGateway) -> None:
    port: PaymentGateway = gateway
    assert callable(port.create_checkout_session)


def test_checkout_session_request_is_exactly_what_the_service_means(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    ref = checkout(gateway)
    assert ref.url == f"{BASE}/_stripe/checkout/{ref.id}"
    [(method, params, headers)] = http.to("/v1/checkout/sessions")
    meta = {"user_id": "user-7", "bundle": "standard", "credits": "2000"}
    assert method == "POST"
    assert params == {
        "mode": "payment",
        "line_items": [{"price": prices["standard"], "quantity": "1"}],
        "client_reference_id": "user-7",
        "customer_email": "seven@example.com",
        "metadata": meta,
        "payment_intent_data": {"metadata": meta},
        "success_url": "https://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.test/cancel",
    }
    assert headers["idempotency-key"] == "purchase-user-7-1"
    assert headers["authorization"] == f"Bearer {KEY}"


def test_without_email_or_key_sends_no_customer_email_and_a_generated_key(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    checkout(gateway, email=None, idempotency_key=None, bundle=bundle("pro"))
    [(_, params, headers)] = http.to("/v1/checkout/sessions")
    assert "customer_email" not in params
    assert params["line_items"] == [{"price": prices["pro"], "quantity": "1"}]
    assert params["metadata"]["credits"] == "10000"
    assert headers["idempotency-key"] and headers["idempotency-key"] != "purchase-user-7-1"


def test_price_lookup_is_batched_and_cached(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    checkout(gateway, idempotency_key="a")
    checkout(gateway, idempotency_key="b", bundle=bundle("starter"))
    checkout(gateway, idempotency_key="c")
    lookups = http.to("/v1/prices")
    assert len(lookups) == 1
    _, params, _ = lookups[0]
    assert set(params["lookup_keys"]) == {b.lookup_key for b in load_catalog().bundles}
    assert params["active"] == "true"
    sent = [p["line_items"][0]["price"] for _, p, _ in http.to("/v1/checkout/sessions")]
    assert sent == [prices["standard"], prices["starter"], prices["standard"]]


def test_missing_price_is_a_provider_error(gateway: StripeGateway, http: InProcessHTTP) -> None:
    with pytest.raises(StripeProviderError, match=r"stripe_setup\.py"):
        checkout(gateway)
    assert http.to("/v1/checkout/sessions") == []


def test_price_that_disagrees_with_the_catalog_is_refused(
    sim: StripeSimulator, gateway: StripeGateway, http: InProcessHTTP
) -> None:
    client = stripe.StripeClient(KEY, base_addresses={"api": sim.api_base})
    product = client.v1.products.create(params={"name": "Credits Bundle"})
    client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 99,
            "currency": "usd",
            "lookup_key": "credits_standard_2000",
        }
    )
    with pytest.raises(StripeProviderError, match="does not match the catalog"):
        checkout(gateway)
    assert http.to("/v1/checkout/sessions") == []


def test_5xx_is_retried_with_the_same_idempotency_key(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str], sim: StripeSimulator
) -> None:
    checkout(gateway, idempotency_key="warm-cache")
    http.calls.clear()
    http.fail_with[:] = [500, 503]
    ref = checkout(gateway, idempotency_key="retry-me")
    attempts = http.to("/v1/checkout/sessions")
    assert len(attempts) == 3
    assert {h["idempotency-key"] for _, _, h in attempts} == {"retry-me"}
    assert ref.id.startswith("cs_test_")
    listed = stripe.StripeClient(KEY, base_addresses={"api": sim.api_base}).v1.checkout.sessions.list()
    assert len(listed.data) == 2


def test_list_completed_sessions_pages_with_an_inclusive_bound(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    for i in range(3):
        ref = checkout(gateway, idempotency_key=f"k{i}")
        status, _, _ = http.sim.handle("POST", f"/_stripe/checkout/{ref.id}/pay", "", {}, b"{}")
        assert status == 200
    checkout(gateway, idempotency_key="open-one")
    http.calls.clear()
    sessions = list(gateway.list_completed_sessions(created_after=1_000))
    assert len(sessions) == 3
    assert all(type(s) is dict and s["status"] == "complete" for s in sessions)
    assert all(type(s["metadata"]) is dict and s["metadata"]["bundle"] == "standard" for s in sessions)
    [(_, params, _)] = http.to("/v1/checkout/sessions")
    assert params == {"status": "complete", "created": {"gte": "1000"}, "limit": "100"}


def test_retrieve_and_refunds_are_plain_dicts(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    ref = checkout(gateway)
    _, _, raw = http.sim.handle("POST", f"/_stripe/checkout/{ref.id}/pay", "", {}, b"{}")
    pi = json.loads(raw)["payment_intent"]
    http.sim.handle("POST", f"/_stripe/payment_intents/{pi}/refund", "", {}, b'{"amount": 100}')
    session = gateway.retrieve_checkout_session(ref.id)
    assert type(session) is dict and session["payment_intent"] == pi
    assert json.loads(json.dumps(session)) == session
    refunds = gateway.list_refunds(payment_intent=pi)
    assert [(type(r), r["amount"], r["payment_intent"]) for r in refunds] == [(dict, 100, pi)]


def _raising_client(exc: Exception) -> Any:
    def boom(*_: Any, **__: Any) -> Any:
        raise exc

    checkout_ns = SimpleNamespace(sessions=SimpleNamespace(create=boom, retrieve=boom, list=boom))
    return SimpleNamespace(
        v1=SimpleNamespace(checkout=checkout_ns, prices=SimpleNamespace(list=boom), refunds=SimpleNamespace(list=boom))
    )


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (stripe.AuthenticationError(f"Invalid API Key provided: {KEY}", http_status=401), "authentication"),
        (stripe.APIConnectionError(f"Could not connect using {KEY}"), "could not be reached"),
        (stripe.RateLimitError("Too many requests", http_status=429), "rate limiting"),
        (
            stripe.InvalidRequestError(f"No such price for {KEY}", "price", code="resource_missing", http_status=404),
            "rejected",
        ),
        (stripe.PermissionError("nope", http_status=403), "refused"),
        (stripe.APIError("internal", http_status=500), "failed"),
    ],
)
def test_every_stripe_error_becomes_a_safe_provider_error(exc: stripe.StripeError, reason: str) -> None:
    gw = StripeGateway(KEY, client=_raising_client(exc))
    calls = [
        lambda: checkout(gw),
        lambda: gw.retrieve_checkout_session("cs_test_x"),
        lambda: list(gw.list_completed_sessions(created_after=0)),
        lambda: gw.list_refunds(payment_intent="pi_x"),
    ]
    for call in calls:
        with pytest.raises(PaymentProviderError) as caught:
            call()
        err = caught.value
        assert err.__cause__ is exc
        assert reason in err.message
        assert KEY not in err.message and "sk_test" not in err.message
        assert KEY not in json.dumps(err.envelope())
        assert err.status == 502 and err.code == "payment_provider_error"
        assert isinstance(err, StripeProviderError) and err.http_status == exc.http_status


def test_errors_raised_while_paging_are_mapped(
    gateway: StripeGateway, http: InProcessHTTP, prices: dict[str, str]
) -> None:
    http.fail_with[:] = [500, 500, 500]
    feed: Iterator[dict[str, Any]] = gateway.list_completed_sessions(created_after=0)
    with pytest.raises(StripeProviderError) as caught:
        next(feed)
    assert caught.value.http_status == 500
    assert len(http.calls) == 3  # the first try and two retries
