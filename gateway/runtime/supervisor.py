"""Links run supervised: a crash in one link is that link's problem alone.

A link's ``run()`` only returns once the link was stopped. If it raises
instead (a bug, an error nobody foresaw), :func:`supervise` logs one
``link_crashed`` line, stops what the link left (its connection closes, its
segments in flight come back as ``link_down``), reports it down with the error
meanwhile, and runs a fresh link from the same settings after a capped,
jittered back-off. The daemon's task group, the API and the other links never
see the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable
from typing import Any, Protocol

from gateway.link.interface import Link, LinkHealth
from gateway.model.clock import SYSTEM_CLOCK, Clock

RESTART_MIN = 1.0  # seconds before the first restart of a crashed link
RESTART_MAX = 60.0  # the back-off's cap
HEALTHY_RUN = 60.0  # a link that ran this long before it crashed starts the back-off over
STOP_TIMEOUT = 5.0  # seconds a crashed link gets to close what it left open


def restart_delay(failures: int, *, rng: random.Random) -> float:
    """Seconds before restarting a link that crashed ``failures`` times in a row."""
    delay = min(RESTART_MAX, RESTART_MIN * 2.0 ** min(failures - 1, 16))
    return delay * (0.5 + rng.random() / 2)


class LinkSlot(Protocol):
    """Where a supervised link lives: the link running now and its last crash."""

    link: Link
    crashed: str | None


def slot_health(slot: LinkSlot) -> LinkHealth:
    """The link's health; down, with the error, while a crashed link waits to restart."""
    health = slot.link.health()
    if slot.crashed is None:
        return health
    return dataclasses.replace(
        health, up=False, bound=False, detail=f"crashed: {slot.crashed}; restarting"
    )


async def supervise(
    slot: LinkSlot,
    *,
    rebuild: Callable[[], Link | None],
    stopping: asyncio.Event,
    logger: Any,
    rng: random.Random | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Run ``slot.link`` until it stops; after each crash, once the back-off is over,
    ``rebuild()`` installs and returns the link to run next (None: the daemon
    stops or the link left the configuration, supervision ends)."""
    rng = rng or random.Random()
    failures = 0
    while True:
        link = slot.link
        started = clock.monotonic()
        try:
            await link.run()
        except Exception as exc:  # noqa: BLE001 - any crash of one link stays that link's
            crash: Exception = exc
        else:
            return  # stopped
        failures = 1 if clock.monotonic() - started >= HEALTHY_RUN else failures + 1
        slot.crashed = f"{type(crash).__name__}: {crash}"
        try:
            await link.stop(timeout=STOP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - it is being replaced either way
            logger.warning("link_stop_failed", link=link.name, error=repr(exc))
        while True:  # until a fresh link is in place (building one can fail too)
            delay = restart_delay(failures, rng=rng)
            logger.error(
                "link_crashed",
                link=link.name,
                error=repr(crash),
                crashes=failures,
                retry_in=round(delay, 2),
                exc_info=crash,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stopping.wait()
            if stopping.is_set():
                return
            try:
                fresh = rebuild()
            except Exception as exc:  # noqa: BLE001 - as if the new link had crashed
                crash = exc
                failures += 1
                continue
            break
        if fresh is None:
            return
        slot.crashed = None
        logger.info("link_restarted", link=link.name, crashes=failures)
