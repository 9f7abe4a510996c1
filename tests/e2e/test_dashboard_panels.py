"""The dashboard's grants, usage, alerts and auto-recharge panels in a real browser against the local stack.

Everything runs against the local stack as it is (auto-recharge with the Stripe simulator's test cards). A few tests
answer a route with a contract-shaped body through route interception, to show how a panel draws a state the stack
cannot produce on demand (a card declined three times).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Route, expect

from .support import Api, Dashboard

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

NEEDS_CARD = (
    "Auto-recharge needs a saved card. Buy credits once with \u201cSave this card for auto-recharge\u201d ticked "
    "(under Buy credits), then switch it on here. Nothing was changed."
)
CARD_TEST_3DS = "4000002760003184"  # Checkout succeeds; later off-session charges need authentication


def day(iso: str) -> str:
    """An ISO time as the page shows its date (en-US, UTC: the browser context's settings)."""
    d = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return f"{d:%b} {d.day}, {d.year}"


def grant_row(dash: Dashboard, grant_id: str) -> Any:
    return dash.page.locator(f'[data-testid="grant"][data-grant-id="{grant_id}"]')


def rows_of_type(dash: Dashboard, entry_type: str) -> Any:
    return dash.page.locator(f'[data-testid="history-row"][data-type="{entry_type}"]')


def feature_price(api: Api, feature: str) -> dict[str, Any]:
    features: list[dict[str, Any]] = api.get("/credits/features")["features"]
    return next(f for f in features if f["id"] == feature)


def iso_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- grants and the expiring note


def test_grants_are_listed_in_spend_order_with_category_remaining_priority_and_expiry(
    dash: Dashboard, user: str, api: Api, stack: Any
) -> None:
    api.buy_and_pay()  # a paid grant: priority 50, never expires
    promo = stack.seed(user, 300, description="Welcome bonus", category="promotional", priority=10,
                       expires_in_days=30)
    api.post("/credits/consume", {"amount": 100, "description": "Render job"})  # taken from priority 10 first

    dash.sign_in(user)
    grants = dash.by("grant")
    expect(grants).to_have_count(2)
    first, second = grants.nth(0), grants.nth(1)
    expect(first).to_have_attribute("data-grant-id", promo.grant_id)
    expect(first.get_by_test_id("grant-remaining")).to_have_text("200 of 300")
    expect(first.get_by_test_id("grant-category")).to_have_text("Promotional")
    expect(first.get_by_test_id("grant-priority")).to_have_text("Priority 10")
    expect(first.get_by_test_id("grant-expires")).to_have_text(f"Expires {day(promo.expires_at)}")
    expect(first).to_contain_text("Welcome bonus")
    expect(second.get_by_test_id("grant-category")).to_have_text("Paid")
    expect(second.get_by_test_id("grant-remaining")).to_have_text("2,000 of 2,000")
    expect(second.get_by_test_id("grant-priority")).to_have_text("Priority 50")
    expect(second.get_by_test_id("grant-expires")).to_have_text("Never expires")
    # The active list needs no status badges: they are all active.
    expect(dash.by("grant-status")).to_have_count(0)
    expect(dash.by("expiring-note")).to_have_text(f"200 credits expire on {day(promo.expires_at)}")
    dash.screenshot("grants")


def test_show_all_adds_used_up_and_voided_grants_with_their_status(
    dash: Dashboard, user: str, api: Api, stack: Any
) -> None:
    keep = stack.seed(user, 1000, description="Main credits")
    trial = stack.seed(user, 50, description="Trial", priority=5)
    api.post("/credits/consume", {"amount": 50})  # uses the trial up (priority 5 is spent first)
    goodwill = stack.seed(user, 500, description="Goodwill", priority=60)
    stack.grants.void_grant(user, goodwill.grant_id, "Issued by mistake")

    dash.sign_in(user)
    expect(dash.by("grant")).to_have_count(1)
    expect(grant_row(dash, keep.grant_id)).to_be_visible()
    # Nothing that is left expires.
    expect(dash.by("expiring-note")).to_be_hidden()

    dash.by("grants-show-all").check()
    expect(dash.by("grant")).to_have_count(3)
    expect(grant_row(dash, keep.grant_id).get_by_test_id("grant-status")).to_have_text("Active")
    expect(grant_row(dash, trial.grant_id).get_by_test_id("grant-status")).to_have_text("Used up")
    expect(grant_row(dash, trial.grant_id).get_by_test_id("grant-remaining")).to_have_text("0 of 50")
    expect(grant_row(dash, goodwill.grant_id).get_by_test_id("grant-status")).to_have_text("Voided")
    expect(grant_row(dash, goodwill.grant_id).get_by_test_id("grant-remaining")).to_have_text("0 of 500")
    dash.screenshot("grants-all")

    dash.by("grants-show-all").uncheck()
    expect(dash.by("grant")).to_have_count(1)


def test_expiring_note_follows_the_earliest_expiry_of_credits_left(dash: Dashboard, user: str, stack: Any) -> None:
    later = stack.seed(user, 700, expires_in_days=60)
    sooner = stack.seed(user, 120, expires_in_days=5)
    stack.seed(user, 30, expires_at=sooner.expires_at)  # the same instant: counted together
    assert later.expires_at > sooner.expires_at

    dash.sign_in(user)
    expect(dash.by("expiring-note")).to_have_text(f"150 credits expire on {day(sooner.expires_at)}")


# ---------------------------------------------------------------- history labels


def test_history_labels_grant_adjustment_void_and_expiry_entries(
    dash: Dashboard, user: str, api: Api, stack: Any
) -> None:
    api.internal("/internal/credits/grants", {"amount": 250, "description": "Referral bonus", "expires_in_days": 10})
    support = stack.seed(user, 80, description="Support credit")  # an adjustment
    stack.grants.void_grant(user, support.grant_id, "Credited twice")
    soon = iso_in(1.5)
    stack.seed(user, 40, description="Flash promo", expires_at=soon)
    time.sleep(2)  # the flash promo expires: its expiry entry is in history from then on

    dash.sign_in(user)
    expect(dash.history_rows()).to_have_count(5)
    expected = {"grant": ("Grant", "+250"), "void": ("Voided", "\u221280"), "expiry": ("Expired", "\u221240")}
    for entry_type, (label, amount) in expected.items():
        row = rows_of_type(dash, entry_type)
        expect(row).to_have_count(1)
        expect(row.get_by_test_id("history-type")).to_have_text(label)
        expect(row.get_by_test_id("history-amount")).to_have_text(amount)
    expect(rows_of_type(dash, "void")).to_contain_text("Credited twice")
    adjustments = rows_of_type(dash, "adjustment")
    expect(adjustments).to_have_count(2)
    expect(adjustments.get_by_test_id("history-type")).to_have_text(["Adjustment", "Adjustment"])
    dash.screenshot("history-types")


def test_type_filter_offers_every_entry_type_and_filters_by_the_new_ones(
    dash: Dashboard, user: str, api: Api, stack: Any
) -> None:
    api.buy_and_pay()
    promo = stack.seed(user, 90, description="Promo")
    stack.grants.void_grant(user, promo.grant_id, "Campaign cancelled")

    dash.sign_in(user)
    expect(dash.history_rows()).to_have_count(3)
    options = dash.by("type-filter").locator("option")
    expect(options).to_have_count(9)
    values = [options.nth(i).get_attribute("value") for i in range(9)]
    assert values == ["", "purchase", "usage", "refund", "adjustment", "grant", "expiry", "void", "restore"]
    expect(options).to_have_text(
        ["All", "Purchases", "Usage", "Refunds", "Adjustments", "Grants", "Expiries", "Voids", "Restores"]
    )

    dash.by("type-filter").select_option("void")
    expect(dash.history_rows()).to_have_count(1)
    expect(dash.history_rows().first.get_by_test_id("history-type")).to_have_text("Voided")
    dash.by("type-filter").select_option("restore")
    expect(dash.history_rows()).to_have_count(0)
    expect(dash.by("history-empty")).to_be_visible()
    dash.by("type-filter").select_option("adjustment")
    expect(dash.history_rows()).to_have_count(1)
    expect(dash.history_rows().first).to_contain_text("Promo")


def test_usage_from_a_feature_shows_the_feature_and_its_quantity(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay()
    price = feature_price(api, "image.render")
    api.post("/credits/consume", {"feature": "image.render", "quantity": 3, "description": "Thumbnails"})
    api.post("/credits/consume", {"amount": 7, "description": "Export"})

    dash.sign_in(user)
    rows = dash.history_rows()
    expect(rows).to_have_count(3)
    feature_row = rows.nth(1)
    expect(feature_row.get_by_test_id("history-type")).to_have_text("Usage")
    expect(feature_row.get_by_test_id("history-detail")).to_have_text(f"{price['name']} \u00d7 3")
    expect(feature_row).to_contain_text("Thumbnails")
    expect(feature_row.get_by_test_id("history-amount")).to_have_text(f"\u2212{3 * price['credits_per_unit']}")
    # A spend of a plain amount has no feature line.
    expect(rows.first.get_by_test_id("history-detail")).to_have_count(0)


# ---------------------------------------------------------------- panels of routes a service may lack


def test_panels_whose_route_answers_404_are_hidden_without_an_error(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay()
    dash.expect_console_errors()  # the browser logs each 404 by itself

    def not_found(route: Route) -> None:
        route.fulfill(status=404, json={"error": {"code": "not_found", "message": "No such route."}})

    for pattern in (r"/credits/settings$", r"/credits/usage(\?|$)", r"/credits/grants(\?|$)"):
        dash.page.route(re.compile(pattern), not_found)
    dash.sign_in(user)

    expect(dash.history_rows()).to_have_count(1)
    expect(dash.by("balance")).to_have_text("2,000")
    expect(dash.by("bundle-standard")).to_be_visible()
    for card in ("grants", "usage", "alerts", "recharge", "save-card-choice"):
        expect(dash.by(card)).to_be_hidden()
    expect(dash.by("alert")).to_have_text("")


def test_auto_recharge_status_and_last_failure_are_in_words(dash: Dashboard, user: str) -> None:
    settings = {
        "alerts": {"thresholds": [500, 100]},
        "auto_recharge": {
            "enabled": True, "threshold": 200, "bundle": "standard", "monthly_limit": 5, "recharges_this_month": 3,
            "payment_method": {"brand": "visa", "last4": "4242"}, "status": "disabled_after_failures",
            "last_failure": {"reason": "insufficient_funds", "at": "2026-01-20T10:00:00Z"},
        },
    }
    dash.page.route(re.compile(r"/credits/settings$"), lambda route: route.fulfill(json=settings))
    dash.sign_in(user)

    expect(dash.by("recharge-status")).to_have_text(
        "Paused after 3 failed payments in a row. Save a new card, or save these settings with auto-recharge on to "
        "try again."
    )
    expect(dash.by("recharge-failure")).to_have_text(
        "The last automatic top-up failed: the card was declined for insufficient funds. (Jan 20, 2026, 10:00 AM)"
    )
    expect(dash.by("recharge-card")).to_have_text("Saved card: Visa \u2022\u2022\u2022\u2022 4242")
    expect(dash.by("recharge-count")).to_have_text("3 of 5 automatic top-ups used this month.")
    expect(dash.by("recharge-enabled")).to_be_checked()
    expect(dash.by("recharge-threshold")).to_have_value("200")
    expect(dash.by("recharge-bundle")).to_have_value("standard")
    expect(dash.by("recharge-limit")).to_have_value("5")
    expect(dash.by("alert-thresholds")).to_have_value("500, 100")
    expect(dash.by("save-card-choice")).to_be_visible()
    dash.screenshot("recharge-paused")

    settings["auto_recharge"].update(status="needs_payment_method", last_failure={"reason": "expired_card"})
    dash.page.reload()
    expect(dash.by("recharge-status")).to_contain_text("your saved card can't be charged")
    expect(dash.by("recharge-failure")).to_have_text("The last automatic top-up failed: the card has expired.")


def test_payment_method_required_is_explained_and_the_form_is_sent_whole(dash: Dashboard, user: str) -> None:
    settings = {
        "alerts": {"thresholds": []},
        "auto_recharge": {"enabled": False, "threshold": 200, "bundle": "standard", "monthly_limit": 5,
                          "recharges_this_month": 0, "payment_method": None, "status": "off"},
    }
    sent: list[Any] = []

    def settings_route(route: Route) -> None:
        if route.request.method == "PUT":
            sent.append(json.loads(route.request.post_data or "null"))
            error = {"code": "payment_method_required", "message": "auto_recharge.enabled: save a payment method."}
            route.fulfill(status=409, json={"error": error})
        else:
            route.fulfill(json=settings)

    dash.page.route(re.compile(r"/credits/settings$"), settings_route)
    dash.expect_console_errors()  # the browser logs the 409
    dash.sign_in(user)
    expect(dash.by("recharge-status")).to_have_text("Auto-recharge is off.")
    expect(dash.by("recharge-card")).to_contain_text("No card saved yet")

    dash.by("recharge-enabled").check()
    dash.by("recharge-threshold").fill("300")
    dash.by("save-recharge").click()
    expect(dash.by("recharge-error")).to_have_text(NEEDS_CARD)
    expect(dash.by("alert")).to_have_text("")
    assert sent == [{"auto_recharge": {"enabled": True, "threshold": 300, "bundle": "standard", "monthly_limit": 5}}]


def test_usage_chart_draws_the_services_days_and_features(dash: Dashboard, user: str) -> None:
    today = datetime.now(UTC).date()
    asked: list[dict[str, list[str]]] = []
    by_day = {"group_by": "day", "items": [
        {"day": (today - timedelta(days=2)).isoformat(), "feature": None, "credits": 120, "count": 4},
        {"day": today.isoformat(), "feature": None, "credits": 30, "count": 1},
    ]}
    by_feature = {"group_by": "feature", "items": [
        {"day": None, "feature": None, "credits": 50, "count": 5},
        {"day": None, "feature": "image.render", "credits": 100, "count": 20},
    ]}

    def usage(route: Route) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        asked.append(query)
        answer = by_feature if query["group_by"] == ["feature"] else by_day
        route.fulfill(json={"from": query["from"][0], "to": query["to"][0], **answer})

    dash.page.route(re.compile(r"/credits/usage(\?|$)"), usage)
    dash.sign_in(user)

    expect(dash.by("usage-total-credits")).to_have_text("150")
    expect(dash.by("usage-total")).to_have_text("150 credits used in the last 30 days (5 uses).")
    expect(dash.by("usage-day-bars").locator("rect")).to_have_count(2)
    assert asked[0] == {"from": [(today - timedelta(days=29)).isoformat()], "to": [today.isoformat()],
                        "group_by": ["day"]}

    dash.page.get_by_text("By feature").click()
    rows = dash.by("usage-feature-row")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_test_id("usage-feature-name")).to_have_text("Image render")
    expect(rows.first.get_by_test_id("usage-feature-credits")).to_have_text("100")
    expect(rows.nth(1).get_by_test_id("usage-feature-name")).to_have_text("Other spends (no feature)")
    dash.screenshot("usage-by-feature")

    dash.by("usage-range").select_option("7")
    expect(dash.by("usage-total")).to_contain_text("in the last 7 days")
    assert asked[-1]["from"] == [(today - timedelta(days=6)).isoformat()]
    assert asked[-1]["group_by"] == ["feature"]


# ---------------------------------------------------------------- against the server's settings, usage, recharge


def test_alert_thresholds_are_saved_and_shown_again(dash: Dashboard, user: str, api: Api) -> None:
    dash.sign_in(user)
    expect(dash.by("alerts")).to_be_visible()
    dash.by("alert-thresholds").fill("100, 500")
    dash.by("save-alerts").click()
    expect(dash.by("alerts-saved")).to_have_text("Alerts saved.")
    assert api.get("/credits/settings")["alerts"]["thresholds"] == [500, 100]

    dash.page.reload()
    expect(dash.by("alert-thresholds")).to_have_value("500, 100")
    dash.by("alert-thresholds").fill("")
    dash.by("save-alerts").click()
    expect(dash.by("alerts-saved")).to_have_text("Alerts saved: none are set.")
    assert api.get("/credits/settings")["alerts"]["thresholds"] == []


def test_more_than_five_thresholds_are_refused_before_anything_is_sent(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    puts: list[str] = []
    dash.page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    dash.by("alert-thresholds").fill("1, 2, 3, 4, 5, 6")
    dash.by("save-alerts").click()
    expect(dash.by("alert-thresholds-error")).to_contain_text("at most 5")
    expect(dash.by("alert-thresholds")).to_have_attribute("aria-invalid", "true")
    assert puts == []


def test_switching_auto_recharge_on_without_a_saved_card_is_explained(dash: Dashboard, user: str, api: Api) -> None:
    dash.expect_console_errors()  # the browser logs the 409
    dash.sign_in(user)
    expect(dash.by("recharge-status")).to_have_text("Auto-recharge is off.")
    expect(dash.by("recharge-card")).to_contain_text("No card saved yet")
    dash.by("recharge-enabled").check()
    dash.by("save-recharge").click()
    expect(dash.by("recharge-error")).to_have_text(NEEDS_CARD)
    expect(dash.by("alert")).to_have_text("")
    assert api.get("/credits/settings")["auto_recharge"]["enabled"] is False


def test_a_bundle_smaller_than_the_threshold_is_refused_on_its_field(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    puts: list[str] = []
    dash.page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    dash.by("recharge-threshold").fill("600")
    dash.by("recharge-bundle").select_option("starter")
    dash.by("save-recharge").click()
    expect(dash.by("recharge-bundle-error")).to_contain_text("The Starter bundle adds 500 credits")
    expect(dash.by("recharge-bundle")).to_have_attribute("aria-invalid", "true")
    assert puts == []


def test_save_this_card_sends_save_payment_method_with_the_purchase(dash: Dashboard, user: str) -> None:
    dash.sign_in(user)
    held: list[Route] = []
    dash.page.route("**/credits/purchase", lambda route: held.append(route))
    dash.by("save-card").check()
    dash.by("buy-standard").click()
    dash.page.wait_for_timeout(300)  # the request is parked in `held`
    assert len(held) == 1
    assert json.loads(held[0].request.post_data or "{}") == {"bundle": "standard", "save_payment_method": True}
    held[0].continue_()
    dash.page.wait_for_url(re.compile(r"/_stripe/checkout/"))


def test_usage_chart_shows_the_services_totals_by_day_and_by_feature(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay()
    cost = 3 * feature_price(api, "image.render")["credits_per_unit"]
    api.post("/credits/consume", {"amount": 7, "description": "Export"})
    api.post("/credits/consume", {"feature": "image.render", "quantity": 3})
    # Usage is totalled on the change path: within 10 s locally.
    api.wait_for(lambda: sum(i["credits"] for i in api.get("/credits/usage")["items"]) == 7 + cost, timeout=15)

    dash.sign_in(user)
    expect(dash.by("usage-total-credits")).to_have_text(str(7 + cost))
    expect(dash.by("usage-day-bars").locator("rect")).to_have_count(1)
    expect(dash.by("usage-day-bars").locator("rect")).to_have_attribute("data-day", datetime.now(UTC).date().isoformat())

    dash.page.get_by_text("By feature").click()
    rows = dash.by("usage-feature-row")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_test_id("usage-feature-name")).to_have_text("Image render")
    expect(rows.first.get_by_test_id("usage-feature-credits")).to_have_text(str(cost))
    expect(rows.nth(1)).to_have_attribute("data-feature", "")
    expect(rows.nth(1).get_by_test_id("usage-feature-credits")).to_have_text("7")


def test_auto_recharge_with_a_saved_card_tops_up_and_shows_in_history(dash: Dashboard, user: str, api: Api) -> None:
    dash.sign_in(user)
    dash.by("save-card").check()
    dash.by("buy-standard").click()
    dash.page.wait_for_url(re.compile(r"/_stripe/checkout/[^/?#]+$"))
    dash.by("pay").click()
    dash.page.wait_for_url(dash.base_url + "/**")
    expect(dash.by("status-message")).to_have_text("2,000 credits added.")
    expect(dash.by("recharge-card")).to_have_text(re.compile(r"^Saved card: .+ \u2022{4} 4242$"))

    dash.by("recharge-threshold").fill("1500")
    dash.by("recharge-bundle").select_option("standard")
    dash.by("recharge-enabled").check()
    dash.by("save-recharge").click()
    expect(dash.by("recharge-saved")).to_have_text("Auto-recharge saved.")
    expect(dash.by("recharge-status")).to_have_text(
        "On: when your available credits fall below 1,500, the Standard bundle (2,000 credits) is bought with your "
        "saved card."
    )

    api.post("/credits/consume", {"amount": 600})  # 1,400 left: below the threshold
    api.wait_for(lambda: api.get("/credits/balance")["balance"] == 3400, timeout=15)
    dash.page.reload()
    recharge = rows_of_type(dash, "purchase").first
    expect(recharge.get_by_test_id("history-type")).to_have_text("Auto-recharge")
    expect(recharge.get_by_test_id("history-amount")).to_have_text("+2,000")
    expect(rows_of_type(dash, "purchase").nth(1).get_by_test_id("history-type")).to_have_text("Purchase")
    expect(dash.by("recharge-count")).to_have_text("1 of 5 automatic top-ups used this month.")


def test_a_failed_recharge_is_explained_in_words(dash: Dashboard, user: str, api: Api) -> None:
    api.buy_and_pay(card=CARD_TEST_3DS, save_payment_method=True)
    api.put("/credits/settings", {"auto_recharge": {"enabled": True, "threshold": 1500, "bundle": "standard"}})
    api.post("/credits/consume", {"amount": 600})

    def failed() -> bool:
        events = api.get(f"/_local/events?user_id={user}")["events"]
        return any(e["type"] == "credits.recharge.failed" for e in events)

    api.wait_for(failed, timeout=15)
    dash.sign_in(user)
    expect(dash.by("recharge-failure")).to_contain_text("your bank asked to confirm the payment")
    expect(dash.by("history-type").filter(has_text="Auto-recharge")).to_have_count(0)


# ---------------------------------------------------------------- the picture in the README


def test_screenshot_of_a_user_with_grants_history_and_usage(dash: Dashboard, user: str, api: Api, stack: Any) -> None:
    """test-output/screenshots/readme.png, which docs/dashboard.png is refreshed from (see dashboard/README.md)."""
    api.buy_and_pay()
    stack.seed(user, 500, description="Welcome bonus", category="promotional", priority=10, expires_in_days=30)
    for quantity in (4, 2, 6):
        api.post("/credits/consume", {"feature": "image.render", "quantity": quantity, "description": "Thumbnails"})
    api.post("/credits/consume", {"feature": "text.generate", "quantity": 40, "description": "Summaries"})
    api.post("/credits/consume", {"amount": 25, "description": "Batch export"})
    goodwill = stack.seed(user, 100, description="Support credit")
    stack.grants.void_grant(user, goodwill.grant_id, "Credited twice")
    api.wait_for(lambda: sum(i["count"] for i in api.get("/credits/usage")["items"]) == 5, timeout=15)

    dash.page.set_viewport_size({"width": 1280, "height": 1280})
    dash.sign_in(user)
    expect(dash.by("grant")).to_have_count(2)
    expect(dash.history_rows()).to_have_count(9)
    dash.page.get_by_text("By feature").click()
    expect(dash.by("usage-feature-row")).to_have_count(3)
    expect(dash.by("usage-total-credits")).to_have_text("125")
    dash.page.wait_for_timeout(300)  # let the last card settle before the picture
    dash.screenshot("readme", full_page=False)
