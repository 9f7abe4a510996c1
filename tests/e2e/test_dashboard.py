"""The dashboard in a real browser against the local stack (API, DynamoDB Local, Stripe simulator).

Every assertion is on what a person sees: text, visibility, the address bar. Screenshots of the main states go to
test-output/screenshots/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from playwright.sync_api import Route, expect

from .support import Api, Dashboard, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Every text the status line ever shows, in order, so a message that is replaced quickly
# ("Payment received…" before "N credits added") can still be asserted.
RECORD_STATUS = """
window.__statusLog = [];
new MutationObserver(() => {
  const node = document.querySelector('[data-testid="status-message"]');
  const text = node ? node.textContent : "";
  if (text && window.__statusLog.at(-1) !== text) window.__statusLog.push(text);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""

PAYMENT_RECEIVED = "Payment received — adding your credits…"


def status_log(dash: Dashboard) -> list[str]:
    log: list[str] = dash.page.evaluate("window.__statusLog")
    return log


def checkout_session_id(dash: Dashboard) -> str:
    dash.page.wait_for_url(re.compile(r"/_stripe/checkout/[^/?#]+$"))
    return dash.page.url.rsplit("/", 1)[1]


def expect_query_cleaned(dash: Dashboard) -> None:
    expect(dash.page).to_have_url(dash.base_url + "/")


# ---------------------------------------------------------------- buying


def test_buy_standard_with_card_adds_2000_credits(dash: Dashboard, user: str) -> None:
    dash.page.add_init_script(RECORD_STATUS)
    dash.sign_in(user, email=f"{user}@example.com")
    expect(dash.by("user-label")).to_have_text(f"{user}@example.com")
    expect(dash.by("balance")).to_have_text("0")
    expect(dash.by("history-empty")).to_be_visible()
    expect(dash.by("price-standard")).to_have_text("$19.90")

    dash.by("buy-standard").click()
    checkout_session_id(dash)
    dash.by("pay").click()

    dash.page.wait_for_url(dash.base_url + "/**")
    expect(dash.by("status-message")).to_have_text("2,000 credits added.", timeout=5_000)
    expect(dash.by("balance")).to_have_text("2,000")
    assert PAYMENT_RECEIVED in status_log(dash)
    rows = dash.history_rows()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Purchase")
    expect(rows.first.get_by_test_id("history-amount")).to_have_text("+2,000")
    expect(dash.by("history-empty")).to_be_hidden()
    expect_query_cleaned(dash)
    dash.screenshot("purchase-fulfilled")


def test_buy_button_is_disabled_while_the_purchase_is_in_flight_and_sends_an_idempotency_key(
    dash: Dashboard, user: str
) -> None:
    dash.sign_in(user)
    held: list[Route] = []
    dash.page.route("**/credits/purchase", lambda route: held.append(route))

    dash.by("buy-standard").click()
    dash.page.wait_for_timeout(300)  # the request is parked in `held`
    assert len(held) == 1
    expect(dash.by("buy-standard")).to_be_disabled()
    key = held[0].request.headers.get("idempotency-key", "")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key), key
    assert json.loads(held[0].request.post_data or "{}") == {"bundle": "standard"}

    held[0].continue_()
    dash.page.wait_for_url(re.compile(r"/_stripe/checkout/"))


def test_purchase_error_is_shown_and_the_button_comes_back(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    dash.expect_console_errors()
    dash.page.route(
        "**/credits/purchase",
        lambda route: route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps({"error": {"code": "unknown_bundle", "message": "No bundle called standard."}}),
        ),
    )
    dash.by("buy-standard").click()
    expect(dash.by("alert")).to_have_text("No bundle called standard.")
    expect(dash.by("buy-standard")).to_be_enabled()
    expect(dash.by("buy-standard")).to_have_text("Buy")


def test_canceled_checkout_shows_a_neutral_message_and_changes_nothing(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    dash.by("buy-standard").click()
    checkout_session_id(dash)
    dash.by("cancel").click()

    dash.page.wait_for_url(dash.base_url + "/**")
    expect(dash.by("status-message")).to_have_text("Checkout canceled — no charge was made.")
    expect(dash.by("balance")).to_have_text("0")
    expect(dash.history_rows()).to_have_count(0)
    expect_query_cleaned(dash)
    dash.screenshot("checkout-canceled")

    # The message belongs to that return only, not to the next visit.
    dash.page.reload()
    expect(dash.by("balance")).to_have_text("0")
    expect(dash.by("status-message")).to_have_text("")


def test_async_payment_pending_is_explained_then_credits_arrive(dash: Dashboard, user: str, api: Api) -> None:
    dash.page.add_init_script(RECORD_STATUS)
    dash.sign_in(user)
    dash.by("buy-standard").click()
    session_id = checkout_session_id(dash)
    dash.by("pay-async").click()

    dash.page.wait_for_url(dash.base_url + "/**")
    expect(dash.by("status-message")).to_have_text(PAYMENT_RECEIVED)
    expect_query_cleaned(dash)
    # Still pending after ~10 s: the page explains why instead of spinning.
    expect(dash.by("status-message")).to_contain_text("bank debits", timeout=15_000)
    expect(dash.by("status-message")).to_contain_text("balance will update")
    expect(dash.by("balance")).to_have_text("0")
    dash.screenshot("payment-pending")

    api.post(f"/_stripe/checkout/{session_id}/async_result", {"succeeded": True}, auth=False)
    # The poll has backed off to 5 s by now.
    expect(dash.by("status-message")).to_have_text("2,000 credits added.", timeout=10_000)
    expect(dash.by("balance")).to_have_text("2,000")
    expect(dash.history_rows()).to_have_count(1)


def test_async_payment_that_fails_says_no_credits_were_added(dash: Dashboard, user: str, api: Api) -> None:
    dash.sign_in(user)
    dash.by("buy-standard").click()
    session_id = checkout_session_id(dash)
    dash.by("pay-async").click()
    dash.page.wait_for_url(dash.base_url + "/**")
    expect(dash.by("status-message")).to_have_text(PAYMENT_RECEIVED)

    api.post(f"/_stripe/checkout/{session_id}/async_result", {"succeeded": False}, auth=False)
    expect(dash.by("status-message")).to_contain_text("didn't go through", timeout=10_000)
    expect(dash.by("status-message")).to_contain_text("no credits were added")
    expect(dash.by("balance")).to_have_text("0")


def test_purchase_is_finished_after_signing_in_again(dash: Dashboard, user: str, api: Api) -> None:
    """Coming back from Checkout with an expired session: sign in, and the purchase is still followed up."""
    session_id = api.post("/credits/purchase", {"bundle": "standard"})["session_id"]
    api.post(f"/_stripe/checkout/{session_id}/pay", {}, auth=False)

    dash.open(f"/?success=true&session_id={session_id}")
    expect(dash.by("sign-in-message")).to_contain_text("Sign in to finish")
    expect_query_cleaned(dash)
    dash.by("user-id").fill(user)
    dash.by("sign-in-submit").click()
    expect(dash.by("status-message")).to_have_text("2,000 credits added.")
    expect(dash.by("balance")).to_have_text("2,000")


# ---------------------------------------------------------------- balance states


def test_held_credits_show_available_and_held(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay()
    api.post("/credits/holds", {"amount": 300, "ttl_seconds": 600})

    dash.sign_in(user)
    expect(dash.by("balance")).to_have_text("2,000")
    expect(dash.by("available")).to_have_text("1,700")
    expect(dash.by("held")).to_have_text("300")
    expect(dash.by("debt-banner")).to_be_hidden()


def test_no_hold_means_no_breakdown(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay()
    dash.sign_in(user)
    expect(dash.by("balance")).to_have_text("2,000")
    expect(dash.by("balance-breakdown")).to_be_hidden()


def test_refund_after_spending_shows_the_debt(dash: Dashboard, user: str, api: Api) -> None:
    paid = api.buy_and_pay()
    api.post("/credits/consume", {"amount": 1500, "description": "Render job"})
    api.post(f"/_stripe/payment_intents/{paid['payment_intent']}/refund", {}, auth=False)
    api.wait_for(lambda: api.get("/credits/balance")["available"] < 0)

    dash.sign_in(user)
    expect(dash.by("debt-banner")).to_be_visible()
    expect(dash.by("debt-banner")).to_have_text(re.compile(r"You owe 1,500 credits;\s*buy credits to continue\."))
    expect(dash.by("balance")).to_have_text("−1,500")
    dash.screenshot("debt")


# ---------------------------------------------------------------- history


def seed_usage(api: Api, count: int) -> None:
    api.buy_and_pay()
    for i in range(1, count + 1):
        api.post("/credits/consume", {"amount": i, "description": f"Image render #{i}"})


def test_history_pages_with_load_more_and_filters_by_type(dash: Dashboard, user: str, api: Api) -> None:
    seed_usage(api, 30)  # 31 entries: one purchase, 30 usage
    used = sum(range(1, 31))

    dash.sign_in(user)
    expect(dash.by("balance")).to_have_text(f"{2000 - used:,}")
    rows = dash.history_rows()
    expect(rows).to_have_count(25)
    # Newest first, signed and coloured.
    expect(rows.first).to_contain_text("Image render #30")
    expect(rows.first.get_by_test_id("history-amount")).to_have_text("−30")
    expect(rows.first.get_by_test_id("history-amount")).to_have_class(re.compile(r"\bdebit\b"))
    dash.screenshot("dashboard", full_page=False)
    dash.screenshot("history-first-page")

    dash.by("load-more").click()
    expect(rows).to_have_count(31)
    expect(dash.by("load-more")).to_be_hidden()
    expect(rows.last).to_contain_text("Purchase")
    expect(rows.last.get_by_test_id("history-amount")).to_have_text("+2,000")
    expect(rows.last.get_by_test_id("history-amount")).to_have_class(re.compile(r"\bcredit\b"))

    dash.by("type-filter").select_option("purchase")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Purchase")
    expect(dash.by("load-more")).to_be_hidden()

    dash.by("type-filter").select_option("usage")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("Image render #30")
    dash.by("load-more").click()
    expect(rows).to_have_count(30)
    expect(rows.last).to_contain_text("Image render #1")

    dash.by("type-filter").select_option("refund")
    expect(rows).to_have_count(0)
    expect(dash.by("history-empty")).to_be_visible()


def test_dates_are_shown_in_local_time(browser: Any, stack: Any, user: str, api: Api) -> None:
    api.buy_and_pay()
    entry = api.get("/credits/history")["items"][0]
    context = browser.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        page.goto(stack.base_url + "/")
        page.get_by_test_id("user-id").fill(user)
        page.get_by_test_id("sign-in-submit").click()
        shown = page.get_by_test_id("history-row").first.locator("time")
        expect(shown).to_have_attribute("datetime", entry["created_at"])
        expected = page.evaluate(
            """iso => new Intl.DateTimeFormat("en-US", {dateStyle: "medium", timeStyle: "short",
                                                       timeZone: "Asia/Tokyo"}).format(new Date(iso))""",
            entry["created_at"],
        )
        expect(shown).to_have_text(expected)
    finally:
        context.close()


# ---------------------------------------------------------------- errors and sign-in


def test_service_down_is_explained_and_retry_recovers(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    dash.expect_console_errors()
    dash.page.route("**/credits/**", lambda route: route.abort("connectionrefused"))
    dash.page.reload()

    expect(dash.by("alert")).to_contain_text("can't be reached")
    expect(dash.by("retry")).to_be_visible()
    expect(dash.by("dashboard")).to_be_visible()
    dash.screenshot("service-down")

    dash.page.unroute("**/credits/**")
    dash.by("retry").click()
    expect(dash.by("balance")).to_have_text("0")
    expect(dash.by("price-standard")).to_have_text("$19.90")
    expect(dash.by("alert")).to_have_text("")


def test_server_error_shows_the_envelope_message(dash: Dashboard, user: str) -> None:
    dash.expect_console_errors()
    dash.page.route(
        "**/credits/balance",
        lambda route: route.fulfill(
            status=500,
            content_type="application/json",
            body=json.dumps({"error": {"code": "internal_error", "message": "Internal error; please retry."}}),
        ),
    )
    dash.open()
    dash.by("user-id").fill(user)
    dash.by("sign-in-submit").click()
    expect(dash.by("alert")).to_have_text("Internal error; please retry.")
    expect(dash.by("dashboard")).to_be_visible()
    # The rest of the page still works.
    expect(dash.by("price-standard")).to_have_text("$19.90")


def test_expired_token_goes_back_to_sign_in(dash: Dashboard, user: str, stack: Any) -> None:
    dash.sign_in(user)
    expired = stack.token(user, None, -60)
    dash.page.evaluate("token => sessionStorage.setItem('credits.token', token)", expired)
    dash.page.reload()

    expect(dash.by("sign-in-form")).to_be_visible()
    expect(dash.by("sign-in-message")).to_have_text("Your session expired. Please sign in again.")
    expect(dash.by("dashboard")).to_be_hidden()
    dash.screenshot("session-expired")


def test_token_expiring_while_the_page_is_open_goes_back_to_sign_in(dash: Dashboard, user: str, stack: Any) -> None:
    # A token with 12 s left: the page treats it as expired 10 s early, so 2 s from now.
    dash.open()
    expect(dash.by("sign-in-form")).to_be_visible()
    short = stack.token(user, None, 12)
    dash.page.evaluate("token => sessionStorage.setItem('credits.token', token)", short)
    dash.page.reload()
    expect(dash.by("dashboard")).to_be_visible()
    expect(dash.by("sign-in-message")).to_have_text("Your session expired. Please sign in again.", timeout=8_000)
    expect(dash.by("dashboard")).to_be_hidden()


def test_token_the_api_rejects_goes_back_to_sign_in(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    dash.expect_console_errors()  # the browser logs the 401 responses
    claims = {"sub": user, "exp": int(time.time()) + 3600}
    forged = jwt.encode(claims, "a-different-secret-of-32-bytes-or-more", algorithm="HS256")
    dash.page.evaluate("token => sessionStorage.setItem('credits.token', token)", forged)
    dash.page.reload()

    expect(dash.by("sign-in-form")).to_be_visible()
    expect(dash.by("sign-in-message")).to_contain_text("Please sign in again.")
    expect(dash.by("dashboard")).to_be_hidden()
    expect(dash.by("alert")).to_have_text("")


def test_garbage_token_goes_back_to_sign_in(dash: Dashboard) -> None:
    dash.open()
    # Wait until this first load has read storage, or it could drop the token before the reload.
    expect(dash.by("sign-in-form")).to_be_visible()
    dash.page.evaluate("sessionStorage.setItem('credits.token', 'not a jwt')")
    dash.page.reload()
    expect(dash.by("sign-in-form")).to_be_visible()
    expect(dash.by("sign-in-message")).to_contain_text("no longer valid")


def test_cognito_sign_in_uses_pkce_and_the_id_token(dash: Dashboard, user: str, stack: Any) -> None:
    """Hosted UI mode against a fake Cognito (route interception): code + PKCE S256, then the id token is used."""
    domain = "https://auth.example.test"
    redirect_uri = dash.base_url + "/"
    config = {
        "apiBase": "",
        "auth": {
            "mode": "cognito",
            "domain": domain,
            "clientId": "client-123",
            "redirectUri": redirect_uri,
            "scopes": ["openid", "email"],
        },
    }
    seen: dict[str, Any] = {}

    def fake_cognito(route: Route) -> None:
        url = urlsplit(route.request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/oauth2/authorize":
            seen["authorize"] = query
            back = f"{query['redirect_uri']}?{urlencode({'code': 'code-xyz', 'state': query['state']})}"
            route.fulfill(status=302, headers={"Location": back})
        elif url.path == "/oauth2/token":
            form = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
            seen["token"] = form
            body = {"id_token": stack.token(user), "access_token": "not-for-the-api", "token_type": "Bearer"}
            route.fulfill(status=200, json=body, headers={"Access-Control-Allow-Origin": "*"})
        elif url.path == "/logout":
            seen["logout"] = query
            route.fulfill(status=302, headers={"Location": query["logout_uri"]})
        else:
            route.fulfill(status=404)

    dash.page.route("**/config.json", lambda route: route.fulfill(json=config))
    dash.page.route(f"{domain}/**", fake_cognito)
    dash.open()
    expect(dash.by("sign-in-form")).to_be_hidden()
    dash.by("sign-in-cognito").click()

    expect(dash.by("balance")).to_have_text("0")
    expect(dash.by("user-label")).to_have_text(user)
    expect_query_cleaned(dash)  # no ?code= left behind
    authorize, token = seen["authorize"], seen["token"]
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == "client-123"
    assert authorize["scope"] == "openid email"
    assert authorize["code_challenge_method"] == "S256"
    assert token["grant_type"] == "authorization_code"
    assert token["code"] == "code-xyz"
    assert token["redirect_uri"] == redirect_uri
    digest = hashlib.sha256(token["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == authorize["code_challenge"]

    dash.by("sign-out").click()
    expect(dash.by("sign-in-cognito")).to_be_visible()
    assert seen["logout"] == {"client_id": "client-123", "logout_uri": redirect_uri}


def test_sign_out_returns_to_the_form_and_forgets_the_token(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    dash.by("sign-out").click()
    expect(dash.by("sign-in-form")).to_be_visible()
    expect(dash.by("sign-in-message")).to_have_text("You have signed out.")
    dash.page.reload()
    expect(dash.by("sign-in-form")).to_be_visible()
    expect(dash.by("dashboard")).to_be_hidden()


def test_empty_user_id_is_refused_with_a_message(dash: Dashboard) -> None:
    dash.open()
    dash.by("sign-in-submit").click()
    expect(dash.by("user-id-error")).to_have_text("Enter a user id.")
    expect(dash.by("user-id")).to_have_attribute("aria-invalid", "true")
    expect(dash.by("user-id")).to_be_focused()


# ---------------------------------------------------------------- keyboard and phone


def test_keyboard_only_sign_in_and_buy(dash: Dashboard, user: str) -> None:
    dash.open()
    expect(dash.by("sign-in-form")).to_be_visible()
    page = dash.page
    # Skip link, then the user id field.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(dash.by("user-id")).to_be_focused()
    page.keyboard.type(user)
    page.keyboard.press("Enter")
    expect(dash.by("balance")).to_have_text("0")

    dash.by("buy-standard").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/_stripe/checkout/"))


def test_phone_width_layout_fits_without_sideways_scrolling(browser: Any, stack: Any, user: str, api: Api) -> None:
    seed_usage(api, 5)
    context = browser.new_context(
        locale="en-US", timezone_id="UTC", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(stack.base_url + "/")
        page.get_by_test_id("user-id").fill(user)
        page.get_by_test_id("sign-in-submit").click()
        expect(page.get_by_test_id("balance")).to_have_text("1,985")
        expect(page.get_by_test_id("history-row")).to_have_count(6)

        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"page scrolls sideways by {overflow}px at 375px"
        # Amounts stay fully visible, inside the card.
        amount = page.get_by_test_id("history-amount").first.bounding_box()
        assert amount is not None and amount["x"] + amount["width"] <= 375
        buy = page.get_by_test_id("buy-standard").bounding_box()
        assert buy is not None and buy["x"] + buy["width"] <= 375 and buy["height"] >= 44
        screenshot(page, "phone")
        assert errors == []
    finally:
        context.close()
