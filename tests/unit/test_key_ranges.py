"""The ledger's key conditions are ranges (``SK BETWEEN lo AND hi``) standing in for ``begins_with``: they must select
exactly the keys with the prefix among every kind of key a user's partition holds, in DynamoDB's order (UTF-8 bytes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from credits import keys
from credits.adapters import dynamo_purchases, dynamo_recharge
from credits.adapters.dynamo_recharge import STATE_SK, record_sk
from credits.events import store as events_store
from credits.events import usage_store
from credits.events.store import EVENTS_MARKER_PREFIX, SETTINGS_SK, USAGE_ENTRY_PREFIX
from credits.ids import entry_sort_id
from credits.keys import (
    ACCOUNT_RANGE,
    BALANCE_SK,
    BOOK_SK,
    ENTRY_PREFIX,
    ENTRY_RANGE,
    GRANT_PREFIX,
    GRANT_RANGE,
    entry_sk,
    grant_expiry_sk,
    grant_sk,
    hold_sk,
    idem_sk,
    pending_sk,
    prefix_range,
)

ids = st.text(min_size=1, max_size=40)  # any id, non-ASCII and U+FFFF and beyond included


def _in(bounds: tuple[str, str], sk: str) -> bool:
    lo, hi = (b.encode() for b in bounds)
    return lo <= sk.encode() <= hi


def _declared_keys() -> set[str]:
    """Every sort-key constant and prefix the adapters declare: a new kind of key is checked without editing here."""
    modules = (keys, events_store, usage_store, dynamo_recharge, dynamo_purchases)
    return {v for m in modules for k, v in vars(m).items()
            if isinstance(v, str) and (k.endswith("_SK") or k.endswith("_PREFIX"))}


def _partition_keys(any_id: str) -> list[str]:
    """One key of every kind a user's partition holds, built by the code that writes them, and each declared prefix
    followed by ``any_id``."""
    return [
        BALANCE_SK, BOOK_SK, SETTINGS_SK, STATE_SK,
        entry_sk(entry_sort_id("tx_01JD0000000000000000000000", "2026-12-01T00:00:00.000Z")),
        grant_sk(any_id), grant_expiry_sk(1_800_000_000_000, any_id), hold_sk(any_id), pending_sk(1_800_000_000, any_id),
        idem_sk("consume", "ab" * 32), record_sk(any_id), usage_store.month_sk("2026-12", 0), USAGE_ENTRY_PREFIX + any_id,
        EVENTS_MARKER_PREFIX + "cd" * 32,
        *sorted(_declared_keys()), *(k + any_id for k in sorted(_declared_keys()) if k.endswith("#")),
    ]


@given(ids)
def test_each_range_selects_exactly_its_prefix(any_id: str) -> None:
    for prefix, bounds in ((ENTRY_PREFIX, ENTRY_RANGE), (GRANT_PREFIX, GRANT_RANGE)):
        for sk in _partition_keys(any_id):
            assert _in(bounds, sk) == sk.startswith(prefix), (prefix, sk)


@given(ids)
def test_the_account_range_holds_the_balance_and_its_book_only(any_id: str) -> None:
    selected = {sk for sk in _partition_keys(any_id) if _in(ACCOUNT_RANGE, sk)}
    assert selected == {BALANCE_SK, BOOK_SK}


def test_the_account_range_is_exactly_the_balance_and_its_book() -> None:
    # Nothing the table holds starts with BALANCE but these two, so the tightest range is also the whole prefix.
    assert ACCOUNT_RANGE == (BALANCE_SK, BOOK_SK)
    assert {k for k in _declared_keys() if k.startswith("BALANCE")} == {BALANCE_SK, BOOK_SK}


def test_prefix_range_bumps_the_last_character() -> None:
    assert prefix_range("ENTRY#") == ("ENTRY#", "ENTRY$")
    lo, hi = prefix_range("GRANT#")
    assert _in((lo, hi), "GRANT#" + "\U0010ffff" * 3)  # the highest code points still sort below the bound
    assert not _in((lo, hi), "GRANT$x") and not _in((lo, hi), "GRANS#x") and not _in((lo, hi), "GRANT%")


def test_prefix_range_refuses_a_prefix_it_cannot_bump() -> None:
    for bad in ("", "GRANT~", "GRANT\u00e9"):
        try:
            prefix_range(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
