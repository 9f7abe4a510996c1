"""Pure units: history cursors and the bundle catalog."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from credits.catalog import Catalog, load_catalog
from credits.cursor import decode_cursor, encode_cursor
from credits.errors import InvalidRequest


def test_cursor_round_trips_for_the_same_user_and_filter():
    c = encode_cursor("ENTRY#tx_1", user_id="alice", entry_type="usage")
    assert decode_cursor(c, user_id="alice", entry_type="usage") == "ENTRY#tx_1"


@pytest.mark.parametrize(("user", "type_"), [("bob", "usage"), ("alice", None), ("alice", "purchase")])
def test_cursor_is_bound_to_user_and_filter(user, type_):
    c = encode_cursor("ENTRY#tx_1", user_id="alice", entry_type="usage")
    with pytest.raises(InvalidRequest):
        decode_cursor(c, user_id=user, entry_type=type_)


@pytest.mark.parametrize("mutate", [lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"), lambda c: "x" + c,
                                    lambda c: c.replace(".", ""), lambda c: "", lambda c: "....", lambda c: "é.é"])
def test_tampered_cursor_is_rejected(mutate):
    c = encode_cursor("ENTRY#tx_1", user_id="alice", entry_type=None)
    with pytest.raises(InvalidRequest):
        decode_cursor(mutate(c), user_id="alice", entry_type=None)


@pytest.mark.parametrize("user", ["é" * 256, "日" * 256, "\U0001f600" * 256, "\u2028\"\\<" * 64, "a" * 256])
def test_cursor_stays_short_for_any_user_id_the_api_accepts(user):
    # The user is bound by a keyed hash: a 256-character id in any script must not push the cursor past the
    # query's 1,024-character limit (it used to: 1,136 characters for 256 x "é").
    sort_key = "ENTRY#" + "0" * 26 + "#" + "9" * 20
    c = encode_cursor(sort_key, user_id=user, entry_type="adjustment")
    assert len(c) <= 256
    assert decode_cursor(c, user_id=user, entry_type="adjustment") == sort_key
    with pytest.raises(InvalidRequest):
        decode_cursor(c, user_id=user[:-1], entry_type="adjustment")


def test_cursor_issued_before_the_keyed_hash_still_pages():
    payload = json.dumps({"u": "alice", "t": None, "k": "ENTRY#tx_1"}, separators=(",", ":")).encode()
    legacy = base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + hmac.new(
        b"credits-history-cursor-v1", payload, hashlib.sha256).hexdigest()[:32]
    assert decode_cursor(legacy, user_id="alice", entry_type=None) == "ENTRY#tx_1"
    with pytest.raises(InvalidRequest):
        decode_cursor(legacy, user_id="bob", entry_type=None)


def test_cursor_must_point_into_the_ledger():
    c = encode_cursor("IDEM#consume#abc", user_id="alice", entry_type=None)
    with pytest.raises(InvalidRequest):
        decode_cursor(c, user_id="alice", entry_type=None)


def test_catalog_has_the_standard_bundle():
    standard = load_catalog().get("standard")
    assert standard is not None
    assert (standard.credits, standard.unit_amount, standard.currency) == (2000, 1990, "usd")
    assert load_catalog().get("nope") is None


@pytest.mark.parametrize(
    "bundles",
    [
        [],  # no standard
        [{"id": "standard", "name": "S", "credits": 0, "unit_amount": 1990, "currency": "usd", "lookup_key": "a"}],
        [{"id": "standard", "name": "S", "credits": 1, "unit_amount": 1990, "currency": "USD", "lookup_key": "a"}],
        [{"id": "standard", "name": "S", "credits": 1, "unit_amount": 1, "currency": "usd", "lookup_key": "a"}] * 2,
    ],
    ids=["no-standard", "zero-credits", "bad-currency", "duplicate"],
)
def test_invalid_catalogs_fail_validation(bundles):
    with pytest.raises(ValidationError):
        Catalog.model_validate(json.loads(json.dumps({"bundles": bundles})))
