"""Fixtures for the Stripe simulator tests (helpers in ``tests/stripe_sim_support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stripe_sim_support import SimStack, check_traffic, new_stack


@pytest.fixture
def sim_stack() -> Iterator[SimStack]:
    """A simulator on a free port; afterwards, whatever it answered and sent must match Stripe's schemas
    (requests are not checked here: tests send bad ones on purpose; the contract test checks them)."""
    stack = new_stack()
    yield stack
    stack.close()
    violations = check_traffic(stack).violations
    assert violations == [], "Stripe schema violations:\n" + "\n".join(violations[:30])


@pytest.fixture
def prices(sim_stack: SimStack) -> dict[str, str]:
    from stripe_setup import setup

    results = setup(client=sim_stack.client())
    return {r.bundle: r.price_id for r in results}
