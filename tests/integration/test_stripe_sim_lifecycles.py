"""The simulator's refund and dispute lifecycles, as Stripe runs them (events, statuses, money movements)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripe_sim_support import SimStack, paid_session

pytestmark = pytest.mark.timeout(30)


def types_of(out: dict[str, Any]) -> list[str]:
    return [d["type"] for d in out["deliveries"]]


def event(stack: SimStack, event_id: str) -> dict[str, Any]:
    found = [e for e in stack.sim.events() if e["id"] == event_id]
    assert len(found) == 1
    return found[0]


def charge_of(stack: SimStack, pi: str) -> Any:
    client = stack.client()
    return client.v1.charges.retrieve(str(client.v1.payment_intents.retrieve(pi).latest_charge))


# --- refunds ---------------------------------------------------------------------------------------------


def test_refund_that_succeeds_sends_created_updated_and_charge_refunded(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    _, pi = paid_session(sim_stack, prices)
    status, out = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 700})
    assert (status, out["status"]) == (200, "succeeded")
    assert types_of(out) == ["refund.created", "refund.updated", "charge.refund.updated", "charge.refunded"]
    assert all(d["status"] == 200 for d in out["deliveries"])
    created, updated = event(sim_stack, out["event_ids"][0]), event(sim_stack, out["event_ids"][1])
    assert created["data"]["object"]["destination_details"]["card"]["reference_status"] == "pending"
    assert updated["data"]["object"]["destination_details"]["card"]["reference_status"] == "available"
    assert updated["data"]["previous_attributes"]["destination_details"]["card"]["type"] == "pending"
    client = sim_stack.client()
    refund = client.v1.refunds.retrieve(out["refund_id"])
    assert (refund.status, refund.amount, refund.payment_intent, refund.reason) == (
        "succeeded", 700, pi, "requested_by_customer")
    assert client.v1.balance_transactions.retrieve(str(refund.balance_transaction)).amount == -700
    charge = charge_of(sim_stack, pi)
    assert (charge.amount_refunded, charge.refunded, charge.amount_captured) == (700, False, 1990)
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": pi}).data] == [out["refund_id"]]


def test_pending_refund_sends_only_created_until_it_succeeds(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    _, out = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 1500, "pending": True})
    assert (out["status"], types_of(out)) == ("pending", ["refund.created"])
    refund = sim_stack.client().v1.refunds.retrieve(out["refund_id"])
    assert (refund.status, refund.to_dict()["pending_reason"]) == ("pending", "processing")
    assert charge_of(sim_stack, pi).amount_refunded == 0
    # The pending amount is spoken for: no refund may exceed what is left.
    too_much, err = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 491})
    assert (too_much, err["error"]["code"]) == (400, "amount_too_large")
    status, done = sim_stack.sim_post(f"/refunds/{out['refund_id']}/succeed")
    assert (status, done["status"]) == (200, "succeeded")
    assert types_of(done) == ["refund.updated", "charge.refund.updated", "charge.refunded"]
    assert event(sim_stack, done["event_ids"][0])["data"]["previous_attributes"]["status"] == "pending"
    assert "pending_reason" not in sim_stack.client().v1.refunds.retrieve(out["refund_id"]).to_dict()
    assert charge_of(sim_stack, pi).amount_refunded == 1500
    again, err = sim_stack.sim_post(f"/refunds/{out['refund_id']}/succeed")
    assert again == 400 and "only a pending refund" in err["error"]["message"]


def test_refund_fails_from_pending_or_after_succeeding_and_frees_the_amount(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    _, pi = paid_session(sim_stack, prices)
    _, pending = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 990, "pending": True})
    status, failed = sim_stack.sim_post(f"/refunds/{pending['refund_id']}/fail", {"failure_reason": "declined"})
    assert (status, failed["status"], failed["failure_reason"]) == (200, "failed", "declined")
    assert types_of(failed) == ["refund.failed", "refund.updated", "charge.refund.updated"]
    client = sim_stack.client()
    refund = client.v1.refunds.retrieve(pending["refund_id"]).to_dict()
    assert (refund["status"], refund["failure_reason"]) == ("failed", "declined")
    assert client.v1.balance_transactions.retrieve(refund["failure_balance_transaction"]).amount == 990
    assert charge_of(sim_stack, pi).amount_refunded == 0
    # A refund that had succeeded can still fail (e.g. the card was closed): the charge shows it unrefunded.
    _, full = sim_stack.sim_post(f"/payment_intents/{pi}/refund")
    assert full["amount"] == 1990 and charge_of(sim_stack, pi).refunded is True
    _, failed = sim_stack.sim_post(f"/refunds/{full['refund_id']}/fail")
    assert failed["failure_reason"] == "expired_or_canceled_card"
    assert event(sim_stack, failed["event_ids"][1])["data"]["previous_attributes"] == {"status": "succeeded"}
    charge = charge_of(sim_stack, pi)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert sim_stack.sim_post(f"/refunds/{full['refund_id']}/fail")[0] == 400
    bad, err = sim_stack.sim_post(f"/refunds/{pending['refund_id']}/fail", {"failure_reason": "bored"})
    assert bad == 400 and err["error"]["param"] == "failure_reason"
    assert sim_stack.sim_post(f"/payment_intents/{pi}/refund")[1]["amount"] == 1990


def test_only_a_refund_requiring_action_can_be_canceled(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    _, out = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 100, "requires_action": True})
    client = sim_stack.client()
    refund = client.v1.refunds.retrieve(out["refund_id"]).to_dict()
    assert refund["status"] == "requires_action" and refund["next_action"]["type"] == "display_details"
    canceled = client.v1.refunds.cancel(out["refund_id"], options={"idempotency_key": "cancel-1"})
    assert canceled.status == "canceled" and "next_action" not in canceled.to_dict()
    updated = [e for e in sim_stack.receiver.events() if e["type"] == "refund.updated"][-1]
    assert updated["data"]["previous_attributes"]["status"] == "requires_action"
    assert updated["request"]["idempotency_key"] == "cancel-1"
    _, done = sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 100})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.cancel(done["refund_id"])
    assert "requires_action" in str(refused.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.cancel("re_missing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


# --- disputes --------------------------------------------------------------------------------------------


def withdrawn(dispute: dict[str, Any]) -> int:
    """What the service computes: funds a dispute withdrew and did not reinstate."""
    return -sum(bt["amount"] for bt in dispute["balance_transactions"])


def test_inquiry_withdraws_nothing_and_closes_as_warning_closed(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    status, out = sim_stack.sim_post(f"/payment_intents/{pi}/dispute", {"inquiry": True})
    assert (status, out["status"], types_of(out)) == (200, "warning_needs_response", ["charge.dispute.created"])
    client = sim_stack.client()
    dispute = client.v1.disputes.retrieve(out["dispute_id"]).to_dict()
    assert (dispute["balance_transactions"], dispute["is_charge_refundable"]) == ([], True)
    assert dispute["payment_method_details"]["card"]["case_type"] == "inquiry"
    assert charge_of(sim_stack, pi).disputed is True
    # An inquiry still lets the merchant refund.
    assert sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 100})[0] == 200
    status, closed = sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close", {"outcome": "won"})
    assert (status, closed["status"]) == (200, "warning_closed")
    assert types_of(closed) == ["charge.dispute.updated", "charge.dispute.closed"]
    assert event(sim_stack, closed["event_ids"][0])["data"]["object"]["status"] == "warning_under_review"
    assert withdrawn(client.v1.disputes.retrieve(out["dispute_id"]).to_dict()) == 0
    assert sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close", {"outcome": "won"})[0] == 400


def test_chargeback_withdraws_the_funds_and_winning_reinstates_them(
    sim_stack: SimStack, prices: dict[str, str]
) -> None:
    _, pi = paid_session(sim_stack, prices)
    _, out = sim_stack.sim_post(f"/payment_intents/{pi}/dispute")
    assert (out["status"], types_of(out)) == ("needs_response", ["charge.dispute.created",
                                                                 "charge.dispute.funds_withdrawn"])
    client = sim_stack.client()
    dispute = client.v1.disputes.retrieve(out["dispute_id"]).to_dict()
    (txn,) = dispute["balance_transactions"]
    assert (txn["amount"], txn["fee"], txn["net"], txn["reporting_category"]) == (-1990, 1500, -3490, "dispute")
    assert (dispute["amount"], dispute["payment_intent"], dispute["is_charge_refundable"]) == (1990, pi, False)
    assert withdrawn(dispute) == 1990
    assert sim_stack.sim_post(f"/payment_intents/{pi}/refund")[1]["error"]["code"] == "charge_disputed"
    _, closed = sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close", {"outcome": "won"})
    assert types_of(closed) == ["charge.dispute.updated", "charge.dispute.closed", "charge.dispute.funds_reinstated"]
    updated = event(sim_stack, closed["event_ids"][0])
    assert updated["data"]["previous_attributes"]["status"] == "needs_response"
    assert updated["data"]["object"]["evidence_details"]["has_evidence"] is True
    reinstated = event(sim_stack, closed["event_ids"][2])["data"]["object"]
    assert (reinstated["status"], withdrawn(reinstated)) == ("won", 0)
    charge_id = dispute["charge"]
    assert [d.id for d in client.v1.disputes.list(params={"charge": charge_id}).data] == [out["dispute_id"]]
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": pi}).data] == [out["dispute_id"]]
    assert client.v1.disputes.list(params={"payment_intent": "pi_other"}).data == []


def test_lost_chargeback_keeps_the_funds_withdrawn(sim_stack: SimStack, prices: dict[str, str]) -> None:
    _, pi = paid_session(sim_stack, prices)
    sim_stack.sim_post(f"/payment_intents/{pi}/refund", {"amount": 990})
    _, out = sim_stack.sim_post(f"/payment_intents/{pi}/dispute")
    bad, err = sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close")
    assert bad == 400 and err["error"]["param"] == "outcome"
    assert sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close", {"outcome": "draw"})[0] == 400
    _, closed = sim_stack.sim_post(f"/disputes/{out['dispute_id']}/close", {"outcome": "lost"})
    assert (closed["status"], types_of(closed)) == ("lost", ["charge.dispute.closed"])
    dispute = sim_stack.client().v1.disputes.retrieve(out["dispute_id"]).to_dict()
    assert (dispute["amount"], withdrawn(dispute)) == (1000, 1000)  # only the unrefunded part was disputed
