"""LinkEvents: replies stored for the destination's owner, the parts of a long one held
in the store from the moment the link may acknowledge them, silent ones released."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from gateway.inbound.receiver import LinkEvents
from gateway.link.interface import Receipt, ReceiptDone
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import InboundMessage
from gateway.ops.collectors import PREFIX
from gateway.ops.metrics import Metrics
from gateway.store.sqlite.store import SqliteStore
from gateway.store.stoplist import DEFAULT_STOP_WORDS, stop_words
from tests.clock import FakeClock
from tests.gateway.store.replies import DESTINATION, LONG_GSM, parts_of
from tests.gateway.store.support import open_sqlite

TIMEOUT = 60.0


class Events:
    """LinkEvents on a store, with what it handed on."""

    def __init__(
        self, store: SqliteStore, clock: FakeClock, stop: frozenset[str] = DEFAULT_STOP_WORDS
    ) -> None:
        self.replies: list[InboundMessage] = []
        self.registry = CollectorRegistry()
        self.link_events = LinkEvents(
            store=store,
            on_inbound=self._sink,
            record_receipt=self._receipt,
            logger=structlog.get_logger(),
            reassembly_timeout=TIMEOUT,
            clock=clock,
            metrics=Metrics(registry=self.registry),
            stop_words=stop,
        )

    async def _sink(self, message: InboundMessage) -> None:
        self.replies.append(message)

    def _receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        raise AssertionError("no receipts here")

    def counted(self, account: str = "") -> float | None:
        return self.registry.get_sample_value(
            f"{PREFIX}_inbound_messages_total", {"link": "l1", "account": account}
        )


@pytest.fixture
async def db(tmp_path: Path, clock: FakeClock) -> Path:
    path = tmp_path / "gw.db"
    store = await open_sqlite(path, clock=clock)
    await store.create_account("acme")
    await store.add_sender("acme", DESTINATION, SenderKind.NUMBER)
    await store.set_sender_status("acme", DESTINATION, SenderStatus.APPROVED)
    await store.close()
    return path


async def test_a_reply_of_one_part_is_stored_for_the_destinations_owner(
    clock: FakeClock, db: Path
) -> None:
    owned = await open_sqlite(db, clock=clock)
    try:
        events = Events(owned, clock)
        [part] = parts_of("yes please", at=clock.now)
        await events.link_events.on_inbound(part)
        [stored] = await owned.list_inbound()
        assert (stored.text, stored.account, stored.received_at) == (
            "yes please",
            "acme",
            clock.now,
        )
        assert events.replies == [stored]
        assert events.counted("acme") == 1
    finally:
        await owned.close()


async def test_each_part_is_in_the_store_when_on_inbound_returns(
    clock: FakeClock, db: Path
) -> None:
    parts = parts_of(LONG_GSM, at=clock.now)
    first = await open_sqlite(db, clock=clock)
    try:
        events = Events(first, clock)
        for part in parts[:-1]:
            await events.link_events.on_inbound(part)
        assert events.replies == []
        assert await first.list_inbound() == []
    finally:
        await first.close()  # the daemon is gone: nothing of it held in memory
    again = await open_sqlite(db, clock=clock)
    try:
        events = Events(again, clock)
        await events.link_events.on_inbound(parts[-1])
        [stored] = await again.list_inbound()
        assert (stored.text, stored.account) == (LONG_GSM, "acme")
        assert events.replies == [stored]
        await events.link_events.on_inbound(parts[0])  # redelivered: nothing new
        assert len(await again.list_inbound()) == 1
        assert events.counted("acme") == 1
    finally:
        await again.close()


async def test_a_silent_reply_is_released_incomplete_with_a_warning(
    store: SqliteStore, clock: FakeClock
) -> None:
    events = Events(store, clock)
    parts = parts_of(LONG_GSM, source="+33611111111", at=clock.now)
    await events.link_events.on_inbound(parts[0])
    clock.advance(TIMEOUT - 1)
    assert await events.link_events.expire() == 0
    clock.advance(2)
    with capture_logs() as logs:
        assert await events.link_events.expire() == 1
    [warning] = [e for e in logs if e["event"] == "reply_incomplete"]
    assert warning["missing"] == list(range(2, len(parts) + 1))
    assert any(e["event"] == "reply_received" and e["complete"] is False for e in logs)
    [stored] = await store.list_inbound()
    assert stored.account is None  # nobody owns the destination in this store
    assert events.replies == [stored]
    assert await events.link_events.expire() == 0


async def test_expiry_releases_more_than_one_batch(store: SqliteStore, clock: FakeClock) -> None:
    events = Events(store, clock)
    for reference in range(150):
        await events.link_events.on_inbound(
            parts_of(LONG_GSM, reference=reference, at=clock.now)[0]
        )
    clock.advance(TIMEOUT + 1)
    assert await events.link_events.expire() == 150
    assert len(await store.list_inbound(limit=1000)) == 150


async def _ignore(message: InboundMessage) -> None:
    del message


def test_a_nonpositive_timeout_is_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="positive"):
        LinkEvents(
            store=store,
            on_inbound=_ignore,
            record_receipt=lambda r, d: None,
            logger=structlog.get_logger(),
            reassembly_timeout=0,
        )


@pytest.mark.parametrize("text", ["STOP", "  stop\n", "Arret", "unsubscribe", "StopAll"])
async def test_a_stop_keyword_stops_its_source_for_the_owner(
    clock: FakeClock, db: Path, text: str
) -> None:
    owned = await open_sqlite(db, clock=clock)
    try:
        events = Events(owned, clock)
        [part] = parts_of(text, source="+33611111111", at=clock.now)
        with capture_logs() as logs:
            await events.link_events.on_inbound(part)
        assert await owned.stopped_numbers("acme", ["+33611111111"]) == {"+33611111111"}
        assert [m.text for m in await owned.list_inbound()] == [text]  # the reply is kept
        assert [e for e in logs if e["event"] == "number_stopped"] == [
            {
                "component": "link_events",
                "event": "number_stopped",
                "log_level": "info",
                "account": "acme",
                "number": "+33611111111",
            }
        ]
    finally:
        await owned.close()


@pytest.mark.parametrize("text", ["stop it", "please STOP", "STOPP", "yes"])
async def test_other_replies_stop_nobody(clock: FakeClock, db: Path, text: str) -> None:
    owned = await open_sqlite(db, clock=clock)
    try:
        events = Events(owned, clock)
        [part] = parts_of(text, at=clock.now)
        await events.link_events.on_inbound(part)
        assert await owned.list_stops("acme") == []
    finally:
        await owned.close()


async def test_configured_keywords_replace_the_defaults(clock: FakeClock, db: Path) -> None:
    owned = await open_sqlite(db, clock=clock)
    try:
        link_events = Events(owned, clock, stop_words(["FIN", " Halt "])).link_events
        for n, text in enumerate(["STOP", "halt", "fin"]):
            [part] = parts_of(text, source=f"+3361111111{n}", at=clock.now)
            await link_events.on_inbound(part)
        assert [e.number for e in await owned.list_stops("acme")] == [
            "+33611111111",
            "+33611111112",
        ]
    finally:
        await owned.close()


async def test_a_long_stop_reply_stops_its_source(clock: FakeClock, db: Path) -> None:
    owned = await open_sqlite(db, clock=clock)
    try:
        events = Events(owned, clock)
        text = "STOP" + " " * 200  # trimmed: the keyword, in two parts
        for part in parts_of(text, at=clock.now):
            await events.link_events.on_inbound(part)
        assert [e.number for e in await owned.list_stops("acme")] == ["+33612345678"]
    finally:
        await owned.close()
