"""Charges and balance transactions: how a payment, a refund or a dispute moves money, and their retrieval."""

from __future__ import annotations

import copy
import re

from local.stripe_sim.core import Context, Request, Result, Route, api
from local.stripe_sim.errors import JsonDict, unsupported
from local.stripe_sim.payment_methods import billing_details
from local.stripe_sim.state import new_id

DAY = 24 * 3600
# What a charge shows after the customer completed a 3D Secure challenge on the payment page.
_THREE_D_SECURE: JsonDict = {
    "authentication_flow": "challenge", "electronic_commerce_indicator": "05", "exemption_indicator": None,
    "result": "authenticated", "result_reason": None, "transaction_id": "sim-3ds-transaction", "version": "2.2.0",
}
DISPUTE_FEE = 1500


def processing_fee(amount: int) -> int:
    """Stripe's standard card pricing (2.9% + 30c): what a charge's balance transaction shows as its fee."""
    return round(amount * 0.029) + 30


def balance_transaction(
    ctx: Context, *, amount: int, currency: str, type_: str, category: str, source: str, fee: int = 0,
    description: str | None = None,
) -> JsonDict:
    now = ctx.now()
    fee_details = [
        {"amount": fee, "application": None, "currency": currency,
         "description": "Dispute fee" if category.startswith("dispute") else "Stripe processing fees",
         "type": "stripe_fee"}
    ] if fee else []
    txn = {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now + 2 * DAY,
        "balance_type": "payments",
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "pending",
        "type": type_,
    }
    return ctx.store.put("balance_transactions", txn)


def outcome(declined: str | None = None) -> JsonDict:
    if declined is None:
        return {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal", "risk_score": 32,
            "seller_message": "Payment complete.", "type": "authorized",
        }
    return {
        "advice_code": "try_again_later", "network_advice_code": None, "network_decline_code": "51",
        "network_status": "declined_by_network", "reason": declined, "risk_level": "normal", "risk_score": 32,
        "seller_message": f"The bank returned the decline code `{declined}`.", "type": "issuer_declined",
    }


def method_details(method: JsonDict, amount: int, *, authenticated: bool = False) -> JsonDict:
    if method["type"] == "us_bank_account":
        bank = method["us_bank_account"]
        return {
            "type": "us_bank_account",
            "us_bank_account": {
                "account_holder_type": bank["account_holder_type"], "account_type": bank["account_type"],
                "bank_name": bank["bank_name"], "fingerprint": bank["fingerprint"], "last4": bank["last4"],
                "payment_reference": None, "routing_number": bank["routing_number"],
            },
        }
    card = method["card"]
    return {
        "type": "card",
        "card": {
            "amount_authorized": amount, "authorization_code": "123456", "brand": card["brand"],
            "checks": copy.deepcopy(card["checks"]), "country": card["country"], "exp_month": card["exp_month"],
            "exp_year": card["exp_year"], "fingerprint": card["fingerprint"], "funding": card["funding"],
            "installments": None, "last4": card["last4"], "mandate": None, "network": card["brand"],
            "network_token": {"used": False}, "network_transaction_id": "1041029786787710",
            "regulated_status": "unregulated", "three_d_secure": _THREE_D_SECURE if authenticated else None,
            "wallet": None,
        },
    }


def new_charge(
    ctx: Context, intent: JsonDict, method: JsonDict, *, status: str, declined: str | None = None,
    email: str | None = None, authenticated: bool = False,
) -> JsonDict:
    charge_id = new_id("py_" if method["type"] == "us_bank_account" else "ch_")
    amount = intent["amount"]
    succeeded = status == "succeeded"
    txn = None
    if status != "failed":
        fee = processing_fee(amount)
        txn = balance_transaction(ctx, amount=amount, currency=intent["currency"], type_="charge",
                                  category="charge", source=charge_id, fee=fee,
                                  description=intent["description"])["id"]
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if status != "failed" else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn,
        "billing_details": billing_details(email or method["billing_details"]["email"],
                                           method["billing_details"]["name"]),
        "calculated_statement_descriptor": "STRIPE SIMULATOR",
        "captured": status != "failed",
        "created": ctx.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": "card_declined" if declined else None,
        "failure_message": "Your card has insufficient funds." if declined else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": copy.deepcopy(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome(declined) if method["type"] == "card" or succeeded else None,
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": method_details(method, amount, authenticated=authenticated),
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "statement_descriptor_suffix": intent["statement_descriptor_suffix"],
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }
    return ctx.store.put("charges", charge)


def _retrieve(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("charges", m.group(1), "charge")))


def _list(ctx: Context, req: Request, _m: re.Match[str]) -> Result:
    p = req.params
    if "transfer_group" in p:
        raise unsupported("the `transfer_group` filter", "transfer_group")
    return Result(200, ctx.store.list_page("charges", p, "/v1/charges", "customer", "payment_intent"))


def _balance_transaction(ctx: Context, _req: Request, m: re.Match[str]) -> Result:
    return Result(200, copy.deepcopy(ctx.store.get("balance_transactions", m.group(1), "id")))


ROUTES: list[Route] = [
    api("GET", "/v1/charges", _list, {"customer", "payment_intent", "created", "transfer_group", "limit",
                                     "starting_after", "ending_before"}),
    api("GET", "/v1/charges/{charge}", _retrieve),
    api("GET", "/v1/balance_transactions/{id}", _balance_transaction),
]
