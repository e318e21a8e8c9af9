"""The daemon's periodic loops: readiness for systemd, receipts that never came,
the gauges of /metrics. Each runs as a named task until cancelled."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

from gateway.codec import IMPLEMENTATION as CODEC_IMPLEMENTATION
from gateway.model.clock import Clock
from gateway.model.records import QueueChanges
from gateway.ops.metrics import Metrics
from gateway.ops.retrying import keep_going
from gateway.ops.sdnotify import Notifier
from gateway.store.base import Store

READY_POLL = 0.1  # seconds between looks at the links while waiting to be ready
STATUS_EVERY = 10.0  # seconds between systemd status lines
SWEEP_EVERY = 60.0  # seconds between sweeps for receipts that never came
GAUGES_EVERY = 5.0  # seconds between refreshes of the store's gauges


async def announce_ready(
    *,
    bound: Callable[[], tuple[int, int]],
    ready_timeout: float,
    notifier: Notifier,
    ready: asyncio.Event,
    logger: Any,
    clock: Clock,
) -> None:
    """READY=1 once every link is bound (``bound()``: bound, configured), or once
    ``ready_timeout`` has passed; then a status line now and then."""
    deadline = clock.monotonic() + ready_timeout
    while clock.monotonic() < deadline:
        up, configured = bound()
        if up == configured:
            break
        await asyncio.sleep(READY_POLL)
    up, configured = bound()
    notifier.ready(f"{up}/{configured} links bound")
    logger.info("daemon_ready", links_bound=up, links=configured, codec=CODEC_IMPLEMENTATION)
    ready.set()
    while True:
        await asyncio.sleep(STATUS_EVERY)
        up, configured = bound()
        notifier.status(f"{up}/{configured} links bound")


async def sweep_receipts(
    *,
    store: Store,
    receipt_timeout: Callable[[], float],
    on_changes: Callable[[QueueChanges], None],
    metrics: Metrics,
    logger: Any,
    clock: Clock,
) -> None:
    """Submitted messages whose receipts never came end ``expired``; receipts kept
    that long without their message are dropped."""

    async def sweep() -> float:
        changes = await store.expire_unconfirmed(before=clock() - receipt_timeout())
        if changes.dropped:
            links = collections.Counter(link for link, _ in changes.dropped)
            logger.warning(
                "receipts_dropped",
                links=dict(links),
                dropped=len(changes.dropped),
                reason="expired",
            )
            metrics.receipts_given_up(changes.dropped)
        if changes.changes:
            logger.warning("receipts_missing", messages=len(changes.changes))
            on_changes(changes)
            return 0.0  # maybe more: at once
        return SWEEP_EVERY

    await keep_going(sweep, what="receipt_sweep", logger=logger)


async def refresh_gauges(store: Store, metrics: Metrics, logger: Any) -> None:
    async def refresh() -> float:
        # what other processes did (a CLI's sends and cancellations) counts here
        metrics.add_counts(await store.take_metric_counts())
        counts = await store.queue_depths()
        metrics.set_queue_depth({state.value: n for state, n in counts.items()})
        for account in await store.list_accounts():
            metrics.set_credit_balance(
                account=account.name, balance=account.balance, alert_below=account.alert_below
            )
        return GAUGES_EVERY

    await keep_going(refresh, what="gauges", logger=logger)
