"""Fixtures for the Stripe simulator tests (helpers in ``tests/stripe_sim_support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stripe_sim_support import SimStack, new_stack


@pytest.fixture
def sim_stack() -> Iterator[SimStack]:
    stack = new_stack()
    yield stack
    stack.close()


@pytest.fixture
def prices(sim_stack: SimStack) -> dict[str, str]:
    from stripe_setup import setup

    results = setup(client=sim_stack.client())
    return {r.bundle: r.price_id for r in results}
