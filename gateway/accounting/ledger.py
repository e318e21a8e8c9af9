"""The credit ledger: rules on one account's balance, and the operator-facing service.

The journal is append-only (store table ``ledger``): top-ups, debits, refunds,
adjustments, each with the balance after it. ``accounts.balance`` is kept in
the same transaction and always equals the journal's sum
(:meth:`Ledger.verify` proves it).

:class:`AccountState` holds the rules (credit limit, monthly cap, low-balance
alert) as pure code; a store backend loads it inside its write transaction
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL),
applies changes and saves it, so concurrent senders serialise on the account.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.model.errors import AlreadyExists, InsufficientCredit, MonthlyCapReached, UserError
from gateway.model.isotime import month_of
from gateway.model.records import Balance, CreditCrossing, LedgerEntry, LedgerResult

DEFAULT_MIN_TOPUP = 100
_REFERENCE = re.compile(r"^[\w.:/#-]{1,100}$")


@dataclass(slots=True, kw_only=True)
class AccountState:
    """One account's money figures inside a write transaction (mutable on purpose)."""

    name: str
    balance: int
    credit_limit: int
    monthly_cap: int | None
    alert_below: int | None
    alert_armed: bool
    month: str
    month_spent: int

    def roll_month(self, now: float) -> None:
        """Start a new calendar month's spending count (UTC) when ``now`` is in one."""
        current = month_of(now)
        if current != self.month:
            self.month = current
            self.month_spent = 0

    def check_debit(self, amount: int, now: float) -> None:
        """Raise when debiting ``amount`` would pass the credit limit or the monthly cap."""
        self.roll_month(now)
        if self.balance - amount < -self.credit_limit:
            raise InsufficientCredit(self.name, self.balance, amount, self.credit_limit)
        if self.monthly_cap is not None and self.month_spent + amount > self.monthly_cap:
            raise MonthlyCapReached(self.name, self.month_spent, self.monthly_cap, amount)

    def debit(self, amount: int, now: float) -> CreditCrossing | None:
        self.check_debit(amount, now)
        self.balance -= amount
        self.month_spent += amount
        return self._watch(now)

    def refund(self, amount: int, now: float, *, debited_at: float) -> CreditCrossing | None:
        """Give back credits of a debit made at ``debited_at`` (its month's spending too)."""
        self.roll_month(now)
        self.balance += amount
        if month_of(debited_at) == self.month:
            self.month_spent = max(0, self.month_spent - amount)
        return self._watch(now)

    def summary(self, now: float) -> Balance:
        """The figures an operator reads at ``now`` (no spending yet in a new month)."""
        spent = self.month_spent if self.month == month_of(now) else 0
        return Balance(
            account=self.name,
            balance=self.balance,
            credit_limit=self.credit_limit,
            available=self.balance + self.credit_limit,
            monthly_cap=self.monthly_cap,
            month_spent=spent,
        )

    def _check_room(self, amount: int) -> None:
        if abs(self.balance + amount) > MAX_BALANCE:
            raise UserError(
                f"account {self.name}: the balance would pass {MAX_BALANCE:,} "
                f"credits (it is {self.balance:,})"
            )

    def topup(self, amount: int, now: float) -> CreditCrossing | None:
        self._check_room(amount)
        self.balance += amount
        return self._watch(now)

    def adjust(self, amount: int, now: float) -> CreditCrossing | None:
        """A manual correction; it may not take the balance below the credit limit."""
        if self.balance + amount < -self.credit_limit:
            raise InsufficientCredit(self.name, self.balance, -amount, self.credit_limit)
        self._check_room(amount)
        self.balance += amount
        return self._watch(now)

    def _watch(self, now: float) -> CreditCrossing | None:
        """A crossing when the balance just went below alert_below; re-arm above it."""
        if self.alert_below is None:
            return None
        if self.balance >= self.alert_below:
            self.alert_armed = True
            return None
        if not self.alert_armed:
            return None
        self.alert_armed = False
        return CreditCrossing(
            account=self.name, balance=self.balance, alert_below=self.alert_below, at=now
        )


# Bounds that keep every sum of credits inside SQLite's (and PostgreSQL's)
# 64-bit integers, far above any real pack or balance: one top-up, adjustment
# or price at most MAX_AMOUNT, a balance within +-MAX_BALANCE.
MAX_AMOUNT = 10**15
MAX_BALANCE = 10**17


def parse_amount(raw: str, *, what: str = "amount", signed: bool = False) -> int:
    """A whole number of credits from user input, with a one-line error."""
    text = raw.strip().replace("_", "")
    try:
        value = int(text)
    except ValueError:
        msg = f"bad {what} {raw[:40]!r}: a whole number of credits is expected"
        raise UserError(msg) from None
    if not signed and value < 0:
        raise UserError(f"bad {what} {raw[:40]!r}: must not be negative")
    if abs(value) > MAX_AMOUNT:
        shown = text if len(text) <= 24 else text[:20] + "…"
        raise UserError(f"bad {what} {shown}: at most {MAX_AMOUNT:,} credits")
    return value


def check_reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        msg = f"bad order reference {reference!r}: 1-100 letters, digits or . _ : / # -"
        raise UserError(msg)
    return reference


def repeated_topup(existing: LedgerEntry, amount: int) -> LedgerResult:
    """A top-up whose reference the account's journal already holds (``existing``):
    the same pack again credits nothing (``duplicate``); another amount is refused."""
    if existing.amount != amount:
        msg = (
            f"order reference {existing.reference!r} was already credited with "
            f"{existing.amount} credits, not {amount}"
        )
        raise AlreadyExists(msg)
    return LedgerResult(entry=existing, duplicate=True)


class LedgerStore(Protocol):
    """What :class:`Ledger` needs of a store (:class:`gateway.store.base.Store` has it)."""

    async def topup(
        self, account: str, amount: int, *, reference: str, note: str | None = None
    ) -> LedgerResult: ...
    async def adjust(self, account: str, amount: int, *, note: str) -> LedgerResult: ...
    async def balance(self, account: str) -> Balance: ...
    async def history(
        self,
        account: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
    ) -> list[LedgerEntry]: ...
    async def verify_ledger(self) -> dict[str, tuple[int, int]]: ...


class Ledger:
    """Operator-facing ledger operations over a store (top-ups, adjustments, balance)."""

    def __init__(self, *, store: LedgerStore, min_topup: int = DEFAULT_MIN_TOPUP, log: Any) -> None:
        self._store = store
        self._min_topup = min_topup
        self._log = log

    async def topup(
        self, account: str, amount: int, *, reference: str, note: str | None = None
    ) -> LedgerResult:
        """Credit a pack; the same ``reference`` twice credits once (``duplicate=True``)."""
        check_reference(reference)
        if amount < self._min_topup:
            msg = (
                f"top-up of {amount} credits refused: the minimum pack is "
                f"{self._min_topup} credits ([ledger] min_topup)"
            )
            raise UserError(msg)
        result = await self._store.topup(account, amount, reference=reference, note=note)
        if not result.duplicate:
            self._log.info(
                "credit_topped_up",
                account=account,
                amount=amount,
                reference=reference,
                balance=result.entry.balance_after,
            )
        return result

    async def adjust(self, account: str, amount: int, *, reason: str) -> LedgerResult:
        if not reason.strip():
            raise UserError("an adjustment needs a reason (--reason TEXT)")
        if amount == 0:
            raise UserError("an adjustment of 0 credits changes nothing")
        result = await self._store.adjust(account, amount, note=reason.strip())
        self._log.info(
            "credit_adjusted", account=account, amount=amount, balance=result.entry.balance_after
        )
        self.report_crossings([result.crossing] if result.crossing else [])
        return result

    async def balance(self, account: str) -> Balance:
        return await self._store.balance(account)

    async def history(self, account: str, *, limit: int | None = None) -> list[LedgerEntry]:
        return await self._store.history(account, limit=limit)

    async def verify(self) -> dict[str, tuple[int, int]]:
        """Accounts whose balance differs from their journal's sum: {name: (balance, sum)}."""
        return await self._store.verify_ledger()

    def report_crossings(self, crossings: Iterable[CreditCrossing]) -> None:
        for c in crossings:
            self._log.warning(
                "credit_low_crossed",
                account=c.account,
                balance=c.balance,
                alert_below=c.alert_below,
            )
