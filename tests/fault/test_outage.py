"""A DynamoDB outage: every answer lost, so botocore's retries run out and the service must say 503, not guess.

Phase 1 loses every DynamoDB answer while 60 balance reads run at once. Besides checking their 503s, that empties the
client's retry quota (botocore's standard mode stops retrying after ~100 failed retries until successes refill it), so
the next phase fails fast instead of sleeping through six exponential backoffs per request; with a full quota it
would only be slower, not different. Phase 2 lets reads through and loses the answer of every write *after DynamoDB
applied it* while the client spends, places a hold, captures, releases, buys, and Stripe delivers a paid session's
webhook. Then, faults off, the client resends with its keys and Stripe redelivers, and the ledger is checked.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from .conftest import FaultStack
from .recording import FaultWindow, recorder
from .schedule import Always, Fault
from .support import Answer, Api, Tally, check_ledger
from .workload import run_concurrently, usage_by_description

WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
DRAIN_READS = 60
UNAVAILABLE = (503, "temporarily_unavailable")


@dataclass
class Outage:
    api: Api
    user: str
    bought: int
    credits_per_session: int
    reads: list[Answer] = field(default_factory=list)
    during: dict[str, Answer] = field(default_factory=dict)
    after: dict[str, Answer] = field(default_factory=dict)
    hold_ids: dict[str, str] = field(default_factory=dict)
    paid_session: str = ""
    webhook_statuses: list[int | None] = field(default_factory=list)
    window: FaultWindow | None = None


def _hold(api: Api, user: str, amount: int) -> str:
    answer = api.request("POST", "/credits/holds", user=user, json={"amount": amount, "ttl_seconds": 600})
    assert answer.status == 201 and answer.body is not None, answer
    return str(answer.body["hold_id"])


@pytest.fixture(scope="module")
def outage(fault_stack: FaultStack, request: pytest.FixtureRequest) -> Outage:
    api = Api(fault_stack.base_url, Tally())
    user = f"user-outage-{uuid.uuid4().hex[:8]}"
    faults = recorder(request, fault_stack.ddb_proxy, fault_stack.edge_proxy, "test_outage")
    bought = api.fund(user)
    credits = next(b["credits"] for b in api.get_ok("/credits/bundles")["bundles"] if b["id"] == "standard")
    o = Outage(api, user, bought, credits)
    o.hold_ids = {"capture": _hold(api, user, 30), "release": _hold(api, user, 20)}
    o.paid_session = api.start_purchase(user, "outage-paid")
    event_id = api.pay(o.paid_session, deliver=False)

    probes: dict[str, Callable[[], Answer]] = {
        "consume": lambda: api.request("POST", "/credits/consume", user=user, key="outage-consume",
                                       json={"amount": 9, "description": "outage spend"}),
        "hold": lambda: api.request("POST", "/credits/holds", user=user, key="outage-hold",
                                    json={"amount": 25, "ttl_seconds": 600}),
        "capture": lambda: api.request("POST", f"/credits/holds/{o.hold_ids['capture']}/capture", user=user,
                                       key="outage-capture", json={"amount": 10}),
        "release": lambda: api.request("POST", f"/credits/holds/{o.hold_ids['release']}/release", user=user,
                                       key="outage-release", json={}),
        "purchase": lambda: api.request("POST", "/credits/purchase", user=user, key="outage-buy",
                                        json={"bundle": "standard"}),
        "webhook": lambda: api.resend(event_id),
    }
    with faults.inject(ddb=Always(Fault.DROP_AFTER_SEND), label="every answer lost") as drain:
        with ThreadPoolExecutor(DRAIN_READS) as pool:
            o.reads = list(pool.map(lambda _: api.request("GET", "/credits/balance", user=user),
                                    range(DRAIN_READS)))
    with faults.inject(ddb=Always(Fault.DROP_AFTER_SEND, operations=WRITES), label="write answers lost") as o.window:
        with ThreadPoolExecutor(len(probes)) as pool:
            o.during = dict(zip(probes, pool.map(lambda probe: probe(), probes.values()), strict=True))
    o.webhook_statuses = api.delivery_statuses(event_id)

    # Faults off: the client resends what it never heard about, Stripe redelivers until a 2xx.
    o.after["consume"] = probes["consume"]()
    o.after["hold"] = probes["hold"]()
    o.after["capture"] = probes["capture"]()
    o.after["release"] = probes["release"]()
    o.after["purchase"] = probes["purchase"]()
    for _ in range(5):
        o.after["webhook"] = probes["webhook"]()
        if (o.after["webhook"].body or {}).get("status") == 200:
            break
    # Successful requests refill botocore's retry quota, so the tests after this one get their retries back.
    run_concurrently([lambda: api.request("GET", "/credits/balance", user=user) for _ in range(120)],
                     random.Random(4), threads=8)
    drain.notes.append(f"{sum(a.status == 503 for a in o.reads)} of {DRAIN_READS} reads answered 503")
    o.window.notes.append("answers while writes were lost: " + ", ".join(
        f"{k} {a.label()}" + (f" {a.code}" if a.code else "") for k, a in o.during.items() if k != "webhook")
        + f"; webhook deliveries answered {o.webhook_statuses}")
    return o


def _status_code(answer: Answer) -> tuple[int | None, str | None]:
    return answer.status, answer.code


def test_reads_answer_503_while_every_dynamodb_answer_is_lost(outage):
    assert outage.reads and all(_status_code(a) == UNAVAILABLE for a in outage.reads), outage.reads


@pytest.mark.parametrize("route", ["consume", "hold", "capture", "release"])
def test_ledger_writes_answer_503_when_their_dynamodb_answer_is_lost(route, outage):
    assert _status_code(outage.during[route]) == UNAVAILABLE, outage.during[route]


def test_purchase_answers_503_when_its_dynamodb_answer_is_lost(outage):
    assert _status_code(outage.during["purchase"]) == UNAVAILABLE, outage.during["purchase"]


def test_spend_and_hold_answered_503_apply_once_when_resent_with_their_keys(outage):
    assert outage.after["consume"].status == 200, outage.after["consume"]
    assert outage.after["hold"].status in (200, 201), outage.after["hold"]
    entries = outage.api.entries(outage.user)
    assert [e["amount"] for e in usage_by_description(entries)["outage spend"]] == [-9]
    hold = outage.after["hold"].body
    assert hold is not None and outage.api.hold(outage.user, hold["hold_id"])["status"] == "pending"


def test_capture_and_release_answered_503_apply_once_when_resent_with_their_keys(outage):
    """A 503 says "unknown": applied (its answer lost after DynamoDB applied it) or not (it lost a race to another
    write of the account, whose answer was lost too). Resent with its key, each resolves its hold exactly once."""
    api, user = outage.api, outage.user
    for action, status in (("capture", "captured"), ("release", "released")):
        again = outage.after[action]
        assert again.status == 200 and (again.body or {}).get("status") == status, again
        assert api.hold(user, outage.hold_ids[action])["status"] == status
    usage = usage_by_description(api.entries(user))
    captured = [e["amount"] for entries in usage.values() for e in entries if e.get("reference") == outage.hold_ids[
        "capture"]]
    assert captured == [-10], captured


def test_webhook_answered_5xx_during_the_outage_credits_the_session_once(outage):
    assert any(s is not None and s >= 500 for s in outage.webhook_statuses), outage.webhook_statuses
    assert (outage.after["webhook"].body or {}).get("status") == 200, outage.after["webhook"]
    api, user = outage.api, outage.user
    assert api.get_ok(f"/credits/purchases/{outage.paid_session}", user=user)["status"] == "fulfilled"
    purchases = [e for e in api.entries(user) if e["type"] == "purchase"]
    assert len(purchases) == 2, purchases  # the funding purchase and this one, each once
    assert [e["reference"] for e in purchases].count(outage.paid_session) in (0, 1)


def test_ledger_after_the_outage_sums_up(outage):
    held = 25  # the hold placed during the outage (and replayed after it) is still pending
    bal, _ = check_ledger(outage.api, outage.user, expect_held=held)
    assert bal["balance"] == outage.bought + outage.credits_per_session - 9 - 10
    assert outage.window is not None and outage.window.ddb.injected.get(Fault.DROP_AFTER_SEND, 0) > 0
