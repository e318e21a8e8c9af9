"""Receipts and replies to the ESMEs bound to the SMPP server, at least once.

The store holds every receipt and reply an ESME should get
(gateway.store.esme_deliveries: written with the change that causes it), so
nothing is lost when no receiver is bound or the daemon restarts. The
:class:`DeliveryPump` is told by the server which receivers and transceivers
are bound (:meth:`attach` / :meth:`detach`: the
:class:`~gateway.model.esme.EsmeDeliveries` side of the seam) and runs one
loop per bound target:

- it takes what is due for the target's system_id (:meth:`Store.take_deliveries`,
  leased to this daemon, so that another bind of the same credential, here or
  on another daemon, never sends it at the same time), at most
  :attr:`PumpSettings.window` in flight per target;
- ESME_ROK: done (:meth:`Store.deliveries_done`: the answers that came while
  the previous ones were being recorded are recorded together); an error status
  (:class:`~gateway.model.esme.DeliveryRefused`): tried again after a back-off
  doubling from :attr:`PumpSettings.retry_min` to :attr:`PumpSettings.retry_max`;
  a bind that ended or an answer that did not come (ConnectionError; any
  other failure of the target alike): given back at once for any bind
  (:meth:`Store.release_deliveries`), and the target rests
  :attr:`PumpSettings.poll` before it takes more;
- it looks again when one of its deliveries settles, when :meth:`wake` says
  this daemon stored new ones, and every :attr:`PumpSettings.poll` seconds
  anyway (what other daemons stored for a bind of this one).

A delivery whose answer was lost (the bind dropped after the ESME took it, the
daemon stopped) is sent again: ESMEs see a receipt or a reply at least once.
:meth:`run` first gives back what this daemon held before it (re)started (the
targets attached meanwhile take nothing until then), then deletes the
deliveries older than :attr:`PumpSettings.ttl`
(counted, logged ``esme_delivery_expired``) and keeps the pending gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from gateway.model.clock import Clock
from gateway.model.errors import StoreError
from gateway.model.esme import DeliveryRefused, DeliveryTarget, EsmeDelivery
from gateway.model.records import EsmeDeliveryCount
from gateway.ops.metrics import Metrics
from gateway.ops.retrying import Outage, keep_going

__all__ = ["DeliveryPump", "DeliveryStore", "PumpSettings", "refused_delay"]


class DeliveryStore(Protocol):
    """What the pump uses of the store (gateway.store.base.Store has it)."""

    async def take_deliveries(
        self, system_id: str, *, owner: str, limit: int, now: float, lease: float
    ) -> list[EsmeDelivery]: ...
    async def deliveries_done(self, ids: Sequence[int]) -> None: ...
    async def delivery_retry(self, id: int, *, at: float) -> None: ...  # noqa: A002
    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int: ...

    async def expire_deliveries(
        self, *, before: float, delivered_before: float | None = None
    ) -> list[EsmeDeliveryCount]: ...
    async def pending_deliveries(self) -> list[EsmeDeliveryCount]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PumpSettings:
    ttl: float = 72 * 3600.0  # [smpp_server] delivery_ttl: kept this long, then dropped
    window: int = 64  # deliver_sm in flight per bound target ([smpp_server] window)
    poll: float = 2.0  # seconds between looks at the store while nothing woke the target
    lease: float = 120.0  # seconds a taken delivery is this daemon's (back to all after)
    retry_min: float = 5.0  # seconds after the first refusal, doubling
    retry_max: float = 600.0  # seconds: the longest wait between two attempts
    sweep: float = 15.0  # seconds between expiry sweeps and pending gauge refreshes
    keep_delivered: float = 3600.0  # seconds a delivered one stays (then deleted)


def refused_delay(attempts: int, settings: PumpSettings) -> float:
    """Seconds before trying again a delivery refused ``attempts + 1`` times."""
    return min(settings.retry_min * 2.0 ** min(attempts, 16), settings.retry_max)


class _Bound:
    """One attached target's loop and what it has in flight."""

    __slots__ = ("in_flight", "rest", "target", "task", "wake")

    def __init__(self, target: DeliveryTarget) -> None:
        self.target = target
        self.rest = False  # a ConnectionError came: take nothing for a poll interval
        self.wake = asyncio.Event()
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.task: asyncio.Task[None] | None = None


class DeliveryPump:
    """The :class:`~gateway.model.esme.EsmeDeliveries` of one daemon."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        owner: str,
        settings: PumpSettings,
        metrics: Metrics,
        logger: Any,
        clock: Clock,
    ) -> None:
        self._store = store
        self._owner = owner  # this daemon's name among the takers ([dispatcher] worker)
        self.settings = settings
        self._metrics = metrics
        self._log = logger
        self._clock = clock
        self._bound: dict[int, _Bound] = {}  # id(target) -> its loop
        # leases given back after a detach; the answered deliveries' recorder
        self._chores: set[asyncio.Task[Any]] = set()
        # answered, not yet recorded: no bind's any more (a detach neither cancels
        # their record nor gives them back for a second send)
        self._answered: list[EsmeDelivery] = []
        self._recorder: asyncio.Task[None] | None = None
        # set once run() gave back what this daemon held before it started: a target
        # takes nothing before, or that release would give back what it just took
        # (sent again by another bind while this one still has it in flight)
        self._started = asyncio.Event()

    # --- the server's side ------------------------------------------------------------
    def attach(self, target: DeliveryTarget) -> None:
        """A receiver or transceiver bound: what waits for its system_id goes to it."""
        if id(target) in self._bound:
            return
        bound = _Bound(target)
        self._bound[id(target)] = bound
        bound.task = asyncio.get_running_loop().create_task(
            self._serve(bound), name=f"esme-deliveries-{target.system_id}"
        )
        self._log.info("esme_receiver_attached", system_id=target.system_id)

    def detach(self, target: DeliveryTarget) -> None:
        """Its bind ended: its loop stops, what it had in flight is given back."""
        bound = self._bound.pop(id(target), None)
        if bound is None:
            return
        self._stop(bound)
        self._log.info("esme_receiver_detached", system_id=target.system_id)

    def wake(self, system_id: str | None = None) -> None:
        """New deliveries were stored (for ``system_id``; None: maybe for any)."""
        for bound in self._bound.values():
            if system_id is None or bound.target.system_id == system_id:
                bound.wake.set()

    @property
    def attached(self) -> int:
        return len(self._bound)

    # --- the daemon's side ------------------------------------------------------------
    async def run(self) -> NoReturn:
        """Give back what this daemon held before it (re)started, then sweep expired
        deliveries and refresh the pending gauge until cancelled."""
        try:
            released = await self._store.release_deliveries(self._owner)
            if released:
                self._log.info("esme_deliveries_released", deliveries=released)
        except StoreError as exc:  # their leases run out instead
            self._log.warning("esme_deliveries_unreleased", error=str(exc))
        finally:
            self._started.set()
        try:
            await keep_going(self._sweep, what="esme_delivery_sweep", logger=self._log)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop every target's loop and give back what they had in flight."""
        for bound in list(self._bound.values()):
            self._stop(bound)
        self._bound.clear()
        if self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)

    async def _sweep(self) -> float:
        now = self._clock()
        expired = await self._store.expire_deliveries(
            before=now - self.settings.ttl, delivered_before=now - self.settings.keep_delivered
        )
        for c in expired:
            self._metrics.esme_deliveries_dropped(
                system_id=c.system_id, kind=c.kind.value, count=c.count
            )
            self._log.warning(
                "esme_delivery_expired",
                system_id=c.system_id,
                kind=c.kind.value,
                deliveries=c.count,
                ttl=self.settings.ttl,
            )
        pending = await self._store.pending_deliveries()
        self._metrics.set_esme_pending({(c.system_id, c.kind.value): c.count for c in pending})
        return self.settings.sweep

    # --- one target ---------------------------------------------------------------------
    def _stop(self, bound: _Bound) -> None:
        if bound.task is not None:
            bound.task.cancel()
        ids = list(bound.in_flight)
        for task in bound.in_flight.values():
            task.cancel()
        bound.in_flight.clear()
        if ids:
            chore = asyncio.get_running_loop().create_task(self._release(ids))
            self._chores.add(chore)
            chore.add_done_callback(self._chores.discard)

    def _done(self, d: EsmeDelivery) -> None:
        """``d`` was answered: to be recorded with the answers around it."""
        self._answered.append(d)
        if self._recorder is None:
            self._recorder = asyncio.get_running_loop().create_task(self._record())
            self._chores.add(self._recorder)
            self._recorder.add_done_callback(self._chores.discard)

    async def _record(self) -> None:
        """Record what was answered, in rounds, until nothing waits."""
        try:
            while self._answered:
                batch, self._answered = self._answered, []
                try:
                    await self._store.deliveries_done([d.id for d in batch])
                except StoreError as exc:  # not settled: their leases run out, sent again
                    self._log.warning(
                        "esme_delivery_unsettled", deliveries=len(batch), error=str(exc)
                    )
                    continue
                for d in batch:
                    self._metrics.esme_delivered(system_id=d.system_id, kind=d.kind.value)
        finally:
            self._recorder = None

    async def _release(self, ids: list[int]) -> None:
        try:
            await self._store.release_deliveries(self._owner, ids)
        except StoreError as exc:  # their leases run out instead
            self._log.warning("esme_deliveries_unreleased", error=str(exc))

    async def _serve(self, bound: _Bound) -> None:
        s = self.settings
        system_id = bound.target.system_id
        outage = Outage("esme_deliveries", self._log.bind(system_id=system_id))
        await self._started.wait()
        while True:
            if bound.rest:
                bound.rest = False
                await asyncio.sleep(s.poll)
            bound.wake.clear()
            room = s.window - len(bound.in_flight)
            taken: list[EsmeDelivery] = []
            if room > 0:
                try:
                    taken = await self._store.take_deliveries(
                        system_id, owner=self._owner, limit=room, now=self._clock(), lease=s.lease
                    )
                except StoreError as exc:  # paused, not ended: the store comes back
                    await asyncio.sleep(outage.failed(exc))
                    continue
                outage.worked()
            for d in taken:
                task = asyncio.get_running_loop().create_task(self._deliver(bound, d))
                bound.in_flight[d.id] = task
            if taken and len(taken) == room:
                continue  # maybe more waiting: take again once the window has room
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bound.wake.wait(), s.poll)

    async def _deliver(self, bound: _Bound, d: EsmeDelivery) -> None:
        kind = d.kind.value
        try:
            try:
                await bound.target.deliver(d)
            except DeliveryRefused as exc:
                self._metrics.esme_delivery_refused(system_id=d.system_id, kind=kind)
                delay = refused_delay(d.attempts, self.settings)
                self._log.info(
                    "esme_delivery_refused",
                    system_id=d.system_id,
                    kind=kind,
                    delivery=d.id,
                    status=f"0x{exc.command_status:08x}",
                    retry_in=delay,
                )
                await self._store.delivery_retry(d.id, at=self._clock() + delay)
            except Exception as exc:  # noqa: BLE001 (ConnectionError; anything else alike)
                say = self._log.info if isinstance(exc, ConnectionError) else self._log.warning
                say(
                    "esme_delivery_interrupted",
                    system_id=d.system_id,
                    kind=kind,
                    delivery=d.id,
                    error=str(exc) or type(exc).__name__,
                )
                # the bind is likely going: give it back and rest before taking more
                bound.rest = True
                await self._store.release_deliveries(self._owner, [d.id])
            else:
                # answered: no longer the bind's to give back, recorded by the pump
                # even if the ESME unbinds right after its deliver_sm_resp
                self._done(d)
        except StoreError as exc:  # not settled: its lease runs out and it goes again
            self._log.warning(
                "esme_delivery_unsettled", system_id=d.system_id, delivery=d.id, error=str(exc)
            )
        finally:
            if bound.in_flight.get(d.id) is asyncio.current_task():
                del bound.in_flight[d.id]
            bound.wake.set()
