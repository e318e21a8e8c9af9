"""Accounts with credit for the contract tests of the message operations."""

from __future__ import annotations

from gateway.store.base import Store
from tests.clock import FakeClock


async def make_account(
    store: Store,
    clock: FakeClock,
    name: str = "acme",
    *,
    credit: int = 1000,
    credit_limit: int = 0,
    monthly_cap: int | None = None,
) -> None:
    """An account with ``credit`` topped up (and its credit limit and monthly cap);
    ``clock`` is the store's (the top-up is dated by it)."""
    del clock  # the store reads it itself
    await store.create_account(name)
    if credit:
        await store.topup(name, credit, reference=f"init-{name}")
    if credit_limit or monthly_cap is not None:
        await store.set_account(name, credit_limit=credit_limit, monthly_cap=monthly_cap)
