"""The simulator's hosted Checkout page in a browser: Stripe's test cards, the 3D Secure step, a decline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .support import Api, Dashboard

SK = {"Authorization": "Bearer sk_test_e2e"}


def open_checkout(dash: Dashboard, api: Api) -> str:
    session_id: str = api.post("/credits/purchase", {"bundle": "standard"})["session_id"]
    dash.open(f"/_stripe/checkout/{session_id}")
    return session_id


def session(api: Api, session_id: str) -> dict[str, object]:
    r = api.http.get(f"{api.stack.base_url}/_stripe/v1/checkout/sessions/{session_id}", headers=SK, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


@pytest.mark.browser
def test_declined_card_shows_stripes_message_and_the_session_stays_open(dash: Dashboard, api: Api) -> None:
    session_id = open_checkout(dash, api)
    dash.by("card").select_option("4000000000009995")
    dash.by("pay").click()
    expect(dash.page.get_by_role("status").last).to_have_text("Your card has insufficient funds.")
    expect(dash.by("pay")).to_be_enabled()
    assert session(api, session_id)["status"] == "open"
    dash.by("card").select_option("4242424242424242")
    dash.by("pay").click()
    dash.page.wait_for_url(dash.base_url + "/**")
    api.wait_for(lambda: api.get(f"/credits/purchases/{session_id}")["status"] == "fulfilled")


@pytest.mark.browser
def test_authentication_card_pays_after_the_3d_secure_step(dash: Dashboard, api: Api) -> None:
    session_id = open_checkout(dash, api)
    dash.by("card").select_option("4000002760003184")
    expect(dash.by("authenticate")).to_be_hidden()
    dash.by("pay").click()
    expect(dash.by("authenticate")).to_be_visible()
    dash.by("fail-authentication").click()
    expect(dash.page.get_by_role("status").last).to_contain_text("Authentication failed")
    assert session(api, session_id)["status"] == "open"
    dash.by("pay").click()
    dash.by("authenticate").click()
    dash.page.wait_for_url(dash.base_url + "/**")
    api.wait_for(lambda: api.get(f"/credits/purchases/{session_id}")["status"] == "fulfilled")
    assert session(api, session_id)["payment_status"] == "paid"
