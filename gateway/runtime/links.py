"""The daemon's links: built from their ``[[link]]`` tables by their drivers, run
supervised (gateway.runtime.supervisor), replaced on SIGHUP.

With gateway.runtime.daemon, the one part of ``gateway`` that imports
``drivers`` (docs/architecture.md, imports).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.driver import ModemLink
from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from gateway.config.daemon import DaemonSettings, LinkTable, driver_key
from gateway.config.file import Where
from gateway.dispatch.router import Router
from gateway.link.interface import Link, LinkHandler, LinkHealth
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import ConfigError
from gateway.runtime.supervisor import slot_health, supervise

# composition keys of a [[link]] table, read here and not by the driver
_ROUTING_KEYS = ("weight",)


def _driver_config(
    table: LinkTable,
    where: Where | None = None,
) -> SmppLinkConfig | ModemLinkConfig:
    """The driver's settings of one link; its error points at the key's line (``where``:
    the file's lines, else the table's header line)."""
    own = {k: v for k, v in table.table.items() if k not in _ROUTING_KEYS}
    try:
        if table.driver == "smpp":
            return SmppLinkConfig.from_table(own)
        if table.driver == "modem":
            return ModemLinkConfig.from_table(own)
    except ConfigError as exc:
        key = driver_key(str(exc))
        line = where.line("link", key, table.nth) if where is not None and key else None
        at = where.at(line) if where is not None and line else table.where
        raise ConfigError(f"{at}: {exc}") from None
    msg = f"{table.where}: link {table.name!r}: unknown driver {table.driver!r}"
    raise ConfigError(msg)


def check_links(settings: DaemonSettings, *, where: Where | None = None) -> None:
    """Validate every link table with its driver, starting nothing. Every problem is
    raised together (ConfigErrors), or, with ``where``, kept there; a table's problems
    are all found: after one, its key is taken out and the table read again."""
    collect = where
    problems = where or Where("", [])
    problems.checked(lambda: routes_of(settings.links), None)
    for table in settings.links:
        _check_link(table, problems)
    if collect is None:
        problems.raise_problems()


def _check_link(table: LinkTable, where: Where) -> None:
    """Every problem of one link table (drivers stop at the first: the key it names is
    left out, so that the next read finds the next one)."""
    own = dict(table.table)
    left_out: set[str] = set()
    for _ in range(len(own) + 1):
        try:
            _driver_config(dataclasses.replace(table, table=own), where)
        except ConfigError as exc:
            key = driver_key(str(exc).split(": ", 1)[-1])
            if key in left_out:  # missing now because it was left out: said already
                return
            where.add(exc)
            if key is None or key not in own or key in {"name", "driver"}:
                return
            left_out.add(key)
            del own[key]
        else:
            return


def build_link(table: LinkTable, handler: LinkHandler, logger: Any) -> Link:
    """One link from its ``[[link]]`` table (the driver checks its own keys)."""
    config = _driver_config(table)
    if isinstance(config, SmppLinkConfig):
        return SmppLink(config=config, handler=handler, logger=logger)
    return ModemLink(config=config, handler=handler, logger=logger)


def routes_of(tables: Iterable[LinkTable]) -> Router:
    return Router(r for t in tables for r in t.routes)


@dataclass(slots=True)
class _Running:
    link: Link
    table: LinkTable
    task: asyncio.Task[None] | None = None
    crashed: str | None = None  # the error, while a crashed link waits to restart


class LinkSet:
    """The links of the configuration, each run supervised in the daemon's task group.

    ``on_replaced(router, links)`` hears every change of the set (a crashed
    link rebuilt, a reload), so that the dispatcher routes to the links running.
    """

    def __init__(
        self,
        tables: Iterable[LinkTable],
        *,
        handler: LinkHandler,
        stopping: asyncio.Event,
        logger: Any,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._handler = handler
        self._stopping = stopping
        self._log = logger
        self._clock = clock
        self._tables = tuple(tables)
        self._running = {t.name: _Running(build_link(t, handler, logger), t) for t in self._tables}
        self.on_replaced: Callable[[Router, Mapping[str, Link]], None] = lambda _r, _l: None

    @property
    def links(self) -> Mapping[str, Link]:
        return {name: r.link for name, r in self._running.items()}

    def router(self) -> Router:
        return routes_of(self._tables)

    def health(self) -> list[LinkHealth]:
        return [slot_health(r) for r in self._running.values()]

    def bound(self) -> list[str]:
        return [name for name, r in self._running.items() if r.link.health().bound]

    def start(self, tg: asyncio.TaskGroup) -> None:
        for name, running in self._running.items():
            self._start(tg, name, running)

    async def stop(self, *, timeout: float) -> None:
        await asyncio.gather(*(r.link.stop(timeout=timeout) for r in self._running.values()))

    async def reload(self, tables: Iterable[LinkTable], tg: asyncio.TaskGroup) -> list[str]:
        """Run the links of ``tables``: those whose table changed are replaced, the
        others stay bound. Every new link is built first: a bad table changes nothing
        (ConfigError). Returns the names of the links now configured."""
        tables = tuple(tables)
        new = {t.name: t for t in tables}
        fresh = {
            name: build_link(t, self._handler, self._log)
            for name, t in new.items()
            if name not in self._running or self._running[name].table != t
        }
        for name in [n for n in self._running if n not in new or n in fresh]:
            old = self._running.pop(name)
            await old.link.stop(timeout=5)
            self._log.info("link_removed", link=name)
        self._tables = tables
        for name, link in fresh.items():
            running = _Running(link=link, table=new[name])
            self._running[name] = running
            self._start(tg, name, running)
            self._log.info("link_added", link=name)
        self.on_replaced(self.router(), self.links)
        return sorted(new)

    def _start(self, tg: asyncio.TaskGroup, name: str, running: _Running) -> None:
        """The link's task: supervised, so that its crash ends neither the task
        group nor the other links (gateway.runtime.supervisor)."""

        def rebuild() -> Link | None:
            if self._stopping.is_set() or self._running.get(name) is not running:
                return None  # stopping, or a reload replaced or removed it
            running.link = build_link(running.table, self._handler, self._log)
            self.on_replaced(self.router(), self.links)
            return running.link

        running.task = tg.create_task(
            supervise(
                running,
                rebuild=rebuild,
                stopping=self._stopping,
                logger=self._log,
                clock=self._clock,
            ),
            name=f"link-{name}",
        )
