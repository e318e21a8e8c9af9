"""The asyncio link over real TCP against the simulator on a free loopback port."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from drivers.smpp.link import deliveries as deliveries_module
from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from drivers.smpp.protocol.pdu import HEADER, BindResp, CommandId, encode
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.mo import mo_pdus
from drivers.smpp.simulator.server import SmscSimulator
from drivers.smpp.simulator.session import SmscSession
from gateway.link.interface import InboundPart, SubmitRequest, submit
from gateway.model.outcomes import Accepted, Outcome, ReceiptState, Rejected, Retry
from gateway.store.reassembly import join_parts
from tests.drivers.smpp.conftest import (
    RecordingHandler,
    SinkHandler,
    StartLink,
    request,
)
from tests.waiting import eventually


async def test_submit_is_accepted_with_the_smsc_message_id(start_link: StartLink) -> None:
    h = await start_link()
    outcome = await submit(h.link, request())
    assert isinstance(outcome, Accepted)
    submits = [r for r in h.sim.records if r["event"] == "submit_sm"]
    assert [r["message_id"] for r in submits] == [outcome.smsc_id]
    assert submits[0]["from_ton"] == 5
    assert submits[0]["to"] == "33612345678"
    health = h.link.health()
    assert (health.bound, health.counters["submitted"], health.counters["accepted"]) == (True, 1, 1)


async def test_receipt_reaches_handler_with_the_accepted_id(start_link: StartLink) -> None:
    h = await start_link(
        sim=SimConfig(dlr=True, receipt_id_form="decimal"),
        receipt_id="hex",
        receipt_id_text="decimal",
    )
    outcome = await submit(h.link, request())
    assert isinstance(outcome, Accepted)
    await eventually(lambda: len(h.handler.receipts) == 1)
    receipt = h.handler.receipts[0]
    assert receipt.smsc_id == outcome.smsc_id
    assert receipt.state is ReceiptState.DELIVERED
    assert receipt.link == "test"


async def test_receipt_before_its_response_is_not_lost(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(dlr=True, dlr_before_resp=True))
    outcomes = await asyncio.gather(
        *(submit(h.link, request(message_id=f"m{i}")) for i in range(10))
    )
    await eventually(lambda: len(h.handler.receipts) == 10)
    accepted = {o.smsc_id for o in outcomes if isinstance(o, Accepted)}
    assert len(accepted) == 10
    assert {r.smsc_id for r in h.handler.receipts} == accepted


async def test_refused_receipt_is_redelivered(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(dlr=True))
    h.handler.fail_next = 1
    outcome = await submit(h.link, request())
    assert isinstance(outcome, Accepted)
    await eventually(lambda: len(h.handler.receipts) == 1)
    assert h.handler.refused == 1
    assert h.handler.receipts[0].smsc_id == outcome.smsc_id
    refusals = [r for r in h.sim.records if r["event"] == "deliver_sm_refused"]
    assert [r["status"] for r in refusals] == ["ESME_RX_T_APPN"]


async def test_window_full_makes_submits_wait_not_fail(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(delay=0.05), window=4)
    peak = 0
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, h.link.health().in_flight)
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    outcomes = await asyncio.gather(
        *(submit(h.link, request(message_id=f"m{i}")) for i in range(20))
    )
    done = True
    await sampler
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert peak == 4


async def test_throttling_is_retried_without_pausing_the_whole_link(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(throttle_share=1.0), throttle_delay=0.3)
    first = await submit(h.link, request())
    assert isinstance(first, Retry)
    assert (first.reason, first.throttled, first.delay) == ("ESME_RTHROTTLED", True, 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    second = await submit(h.link, request())
    # no link-wide pause per throttling answer (that made a throttling SMSC crawl):
    # the rate adapts instead (drivers/smpp/protocol/pacing.py, tests/.../test_pacing.py)
    assert loop.time() - started < 0.25
    assert isinstance(second, Retry)
    assert h.link.health().counters["throttled"] == 2


async def test_response_timeout_is_a_retry(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(delay=30.0), response_timeout=0.2)
    outcome = await asyncio.wait_for(submit(h.link, request()), 5)
    assert outcome == Retry(reason="timeout")
    assert h.link.health().counters["timeouts"] == 1
    assert h.link.health().in_flight == 0


async def test_garbage_answer_is_nacked_and_the_submit_times_out(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(garbage_share=1.0), response_timeout=0.3)
    outcome = await asyncio.wait_for(submit(h.link, request()), 5)
    assert outcome == Retry(reason="timeout")
    await eventually(lambda: any(r["event"] == "generic_nack" for r in h.sim.records))
    assert h.link.bound  # one unreadable PDU does not end the session


@pytest.mark.parametrize("form", ["empty", "long"])
async def test_an_ok_answer_without_a_usable_message_id_is_refused_not_accepted(
    start_link: StartLink,
    form: str,
) -> None:
    with structlog.testing.capture_logs() as logs:
        h = await start_link(sim=SimConfig(id_form=form, dlr=True))
        outcome = await asyncio.wait_for(submit(h.link, request()), 5)
        [streamed] = await _stream(h.link, 1)
    # the SMSC may have taken it: refused once, never sent again as a retry would
    assert outcome == streamed == Rejected(reason="ESME_ROK without a usable message_id")
    counters = h.link.health().counters
    assert (counters["accepted"], counters["rejected"], counters["protocol_errors"]) == (0, 2, 2)
    refused = [e for e in logs if e["event"] == "smpp_submit_resp_refused"]
    assert len(refused) == 2
    assert refused[0]["log_level"] == "warning"
    assert h.link.bound  # one broken answer does not end the session
    assert h.link.health().in_flight == 0


async def test_connection_dropped_with_64_in_flight_resolves_every_submit(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(delay=5.0, drop_after=64), window=64)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(submit(h.link, request(message_id=f"m{i}")) for i in range(64))), 3
    )
    assert outcomes == [Retry(reason="link_down")] * 64
    await h.link.wait_bound(5)  # and it comes back
    assert h.link.health().counters["reconnects"] >= 1


async def test_drop_mid_stream_each_segment_accepted_once_or_retried(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(drop_after=150), window=64)
    outcomes: list[Outcome] = await asyncio.wait_for(
        asyncio.gather(*(submit(h.link, request(message_id=f"m{i}")) for i in range(300))), 10
    )
    accepted = [o.smsc_id for o in outcomes if isinstance(o, Accepted)]
    retried = [o for o in outcomes if isinstance(o, Retry)]
    assert len(accepted) + len(retried) == 300
    assert len(set(accepted)) == len(accepted)  # no id handed out twice
    assert 0 < len(accepted) < 300
    assert {o.reason for o in retried} == {"link_down"}
    sim_ids = {r["message_id"] for r in h.sim.records if r["event"] == "submit_sm"}
    assert set(accepted) <= sim_ids


async def test_smsc_unbind_closes_and_the_link_rebinds(start_link: StartLink) -> None:
    h = await start_link()
    assert h.sim.unbind_all() == 1
    await eventually(lambda: h.link.health().counters["reconnects"] >= 1)
    await h.link.wait_bound(5)
    assert isinstance(await submit(h.link, request()), Accepted)
    assert any(r["event"] == "unbind_resp" for r in h.sim.records)


async def test_mo_out_of_order_is_reassembled(start_link: StartLink) -> None:
    h = await start_link()
    text = "Yes, please call me back tomorrow morning"
    assert (
        h.sim.inject_mo(
            source="+33612345678",
            destination="36111",
            text=text,
            concat="udh8",
            parts=3,
            order=[3, 1, 2],
        )
        == 3
    )
    await eventually(lambda: len(h.handler.parts) == 3)
    assert [p.concat.sequence for p in h.handler.parts if p.concat] == [3, 1, 2]
    in_order = sorted(h.handler.parts, key=lambda p: p.concat.sequence if p.concat else 0)
    assert {(p.source, p.destination) for p in in_order} == {("+33612345678", "36111")}
    assert join_parts(in_order) == text
    assert h.link.health().counters["inbound"] == 3


async def test_mo_addresses_in_national_or_unknown_form_arrive_as_e164(
    start_link: StartLink,
) -> None:
    h = await start_link(country="GB")
    forms = [
        ("447911123456", 0),
        ("07911123456", 2),
        ("07911123456", 0),
        ("7911123456", 2),
        ("00447911123456", 0),
        ("447911123456", 1),
    ]
    for number, ton in forms:
        h.sim.inject_mo(
            source="07700123456", source_ton=2, destination=number, dest_ton=ton, text="yes"
        )
    h.sim.inject_mo(source="+33612345678", destination="60777", dest_ton=0, text="short")
    await eventually(lambda: len(h.handler.parts) == len(forms) + 1)
    *numbers, short = h.handler.parts
    assert {(p.source, p.destination) for p in numbers} == {("+447700123456", "+447911123456")}
    assert (short.source, short.destination) == ("+33612345678", "60777")  # a short code


async def test_sar_and_payload_mo_arrive(start_link: StartLink) -> None:
    h = await start_link()
    h.sim.inject_mo(source="+336", destination="1", text="ça va", concat="payload")
    h.sim.inject_mo(source="+336", destination="1", text="abcdef", concat="sar", parts=2)
    await eventually(lambda: len(h.handler.parts) == 3)
    assert h.handler.parts[0].payload == "ça va".encode("utf-16-be")
    assert [p.concat.total for p in h.handler.parts[1:] if p.concat] == [2, 2]


async def test_stop_waits_for_in_flight_answers_then_unbinds(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(delay=0.2))
    pending = asyncio.create_task(submit(h.link, request()))
    await eventually(lambda: h.link.health().in_flight == 1)
    await h.link.stop(timeout=5)
    assert isinstance(await pending, Accepted)
    assert any(r["event"] == "unbind" for r in h.sim.records)
    assert await submit(h.link, request()) == Retry(reason="link_down")


async def test_throughput_limit_paces_submits(start_link: StartLink) -> None:
    h = await start_link(throughput=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await asyncio.gather(*(submit(h.link, request()) for _ in range(11)))
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert loop.time() - started >= 0.19  # 10 intervals of 20 ms


async def test_invalid_request_is_rejected_locally(start_link: StartLink) -> None:
    h = await start_link()
    outcome = await submit(h.link, request(destination="+" + "1" * 25))
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("invalid: destination_addr")
    assert isinstance(await submit(h.link, request()), Accepted)  # the window slot came back


async def test_refused_bind_is_reported_and_retried() -> None:
    sim = SmscSimulator(config=SimConfig(password="other"), port=0)
    port = await sim.start()
    config = SmppLinkConfig.from_table(
        {
            "name": "t",
            "port": port,
            "system_id": "gw",
            "password": "pw",
            "reconnect_min": 0.05,
            "reconnect_max": 0.1,
        }
    )
    link = SmppLink(config=config, handler=RecordingHandler())
    task = asyncio.create_task(link.run())
    try:
        await eventually(lambda: sum(r["event"] == "bind" for r in sim.records) >= 2)
        assert not link.health().bound
        assert "ESME_RINVPASWD" in link.health().detail
        assert await submit(link, request()) == Retry(reason="link_down")
    finally:
        await link.stop(timeout=1)
        await asyncio.wait_for(task, 5)
        await sim.close()


async def test_unreachable_smsc_is_reported_and_stop_ends_run() -> None:
    sim = SmscSimulator(port=0)
    port = await sim.start()
    await sim.close()  # nothing listens there any more
    config = SmppLinkConfig.from_table({"name": "t", "port": port, "reconnect_min": 0.05})
    link = SmppLink(config=config, handler=RecordingHandler())
    task = asyncio.create_task(link.run())
    await eventually(lambda: "connect to" in link.health().detail)
    assert not link.health().up
    await link.stop(timeout=1)
    await asyncio.wait_for(task, 5)


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_link_binds_and_submits(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sim = SmscSimulator(port=0, ssl_context=server_ctx)
    port = await sim.start()
    config = SmppLinkConfig.from_table(
        {"name": "t", "port": port, "tls": True, "tls_ca": str(cert)}
    )
    link = SmppLink(config=config, handler=RecordingHandler())
    task = asyncio.create_task(link.run())
    try:
        await link.wait_bound(5)
        assert isinstance(await submit(link, request()), Accepted)
    finally:
        await link.stop(timeout=2)
        await asyncio.wait_for(task, 5)
        await sim.close()


async def test_silent_peer_gets_a_dead_link_verdict_and_a_reconnect() -> None:
    binds = 0

    async def mute_smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal binds
        header = await reader.readexactly(16)
        length, command_id, _, seq = HEADER.unpack(header)
        await reader.readexactly(length - 16)
        binds += 1
        writer.write(
            encode(
                BindResp(
                    command_id=CommandId(command_id | 0x80000000), sequence=seq, system_id="mute"
                )
            )
        )
        await reader.read()  # never answers anything again (enquire_link included)
        writer.close()

    server = await asyncio.start_server(mute_smsc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = SmppLinkConfig.from_table(
        {
            "name": "t",
            "port": port,
            "enquire_link": 0.2,
            "response_timeout": 0.2,
            "reconnect_min": 0.05,
        }
    )
    with structlog.testing.capture_logs() as logs:
        link = SmppLink(config=config, handler=RecordingHandler())
        task = asyncio.create_task(link.run())
        try:
            await eventually(lambda: binds >= 2)
            closes = [e for e in logs if e["event"] == "smpp_session_closed"]
            assert closes[0]["reason"] == "dead"
            assert "enquire_link unanswered" in closes[0]["detail"]
            assert link.health().counters["reconnects"] >= 1
        finally:
            await link.stop(timeout=1)
            await asyncio.wait_for(task, 5)
            server.close()
            await server.wait_closed()


async def test_stop_while_binding_returns_at_once() -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = SmppLink(
        config=SmppLinkConfig.from_table({"name": "t", "port": port}), handler=RecordingHandler()
    )
    task = asyncio.create_task(link.run())
    try:
        await eventually(lambda: link.health().up)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await link.stop(timeout=5)
        await asyncio.wait_for(task, 5)
        assert loop.time() - started < 1.0
        assert not link.health().up
    finally:
        server.close()
        await server.wait_closed()


async def test_a_cancelled_link_ends_even_when_its_connection_fails_at_that_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the daemon's task group cancels the link's task (a start-up error) just as a
    # connection attempt fails: asyncio.wait_for on Python 3.11 lost such a
    # cancellation and the reconnect loop ran on, so the daemon never exited
    config = SmppLinkConfig.from_table(
        {"name": "x", "host": "127.0.0.1", "port": 9, "system_id": "gw", "password": "pw"}
    )
    link = SmppLink(config=config, handler=RecordingHandler(), logger=structlog.get_logger())
    task: asyncio.Task[None] | None = None

    async def refused(*_args: object, **_kwargs: object) -> None:
        assert task is not None
        task.cancel()
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", refused)
    task = asyncio.create_task(link.run())
    done, _ = await asyncio.wait({task}, timeout=5)
    if task not in done:
        await link.stop()
    assert task in done, "the link went on reconnecting after its task was cancelled"
    assert task.cancelled()


# --- the streaming path (room / wait_room / send), as the dispatcher drives it -----------


async def _stream(link: SmppLink, count: int) -> list[Outcome]:
    """Send ``count`` segments the way the dispatcher does; their outcomes in order."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Outcome]] = []
    for i in range(count):
        if link.room() <= 0:
            await link.wait_room()
        fut: asyncio.Future[Outcome] = loop.create_future()
        link.send(request(message_id=f"m{i}"), fut.set_result)
        futures.append(fut)
    return list(await asyncio.wait_for(asyncio.gather(*futures), 10))


async def test_streamed_segments_fill_the_window_and_never_pass_it(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(delay=0.02), window=4)
    peak = 0
    original = h.link.send

    def send(req: SubmitRequest, done: Callable[[Outcome], None]) -> None:
        nonlocal peak
        original(req, done)
        peak = max(peak, h.link.health().in_flight)

    h.link.send = send  # type: ignore[method-assign,assignment]
    outcomes = await _stream(h.link, 20)
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert len({o.smsc_id for o in outcomes if isinstance(o, Accepted)}) == 20
    assert peak == 4
    assert h.link.room() == 4


async def test_streamed_segment_on_a_link_that_is_not_bound_is_link_down() -> None:
    link = SmppLink(
        config=SmppLinkConfig.from_table(
            {"name": "x", "host": "127.0.0.1", "port": 1, "system_id": "gw"}
        ),
        handler=RecordingHandler(),
    )
    got: list[Outcome] = []
    assert link.room() > 0  # down: room to fail at once, never a wait
    await asyncio.wait_for(link.wait_room(), 1)
    link.send(request(), got.append)
    assert got == [Retry(reason="link_down")]


async def test_a_dropped_connection_answers_every_streamed_segment(
    start_link: StartLink,
) -> None:
    h = await start_link(sim=SimConfig(delay=5.0, drop_after=8), window=8)
    waiting = asyncio.create_task(_stream(h.link, 12))  # 8 in flight, the 9th waits for room
    outcomes = await asyncio.wait_for(waiting, 5)
    assert outcomes[:8] == [Retry(reason="link_down")] * 8
    assert all(isinstance(o, Retry) for o in outcomes[8:])


async def test_a_silent_smsc_ends_the_session_and_its_segments_go_out_on_the_next(
    start_link: StartLink,
) -> None:
    # the SMSC keeps the connection open and answers nothing: the segments must not
    # come back as timeouts (they would be sent again on the silent session) but as
    # link_down once the session is declared dead, long before enquire_link's 30 s
    h = await start_link(sim=SimConfig(silent_after=1), response_timeout=0.3)

    def ignored_submits() -> int:
        return sum(
            r["event"] == "ignored" and r["command_id"] == CommandId.SUBMIT_SM
            for r in h.sim.records
        )

    with structlog.testing.capture_logs() as logs:
        waiting = asyncio.create_task(_stream(h.link, 5))
        await eventually(lambda: ignored_submits() == 5)
        h.sim.config = SimConfig()  # the next connection is answered again
        outcomes = await asyncio.wait_for(waiting, 5)
        assert outcomes == [Retry(reason="link_down")] * 5
        await h.link.wait_bound(5)
    closes = [e for e in logs if e["event"] == "smpp_session_closed"]
    assert closes[0]["reason"] == "dead"
    again = await _stream(h.link, 5)  # sent again: on the new session
    assert all(isinstance(o, Accepted) for o in again)
    assert ignored_submits() == 5  # the silent session got each segment once


async def test_streamed_segments_keep_the_throughput_limit(start_link: StartLink) -> None:
    h = await start_link(throughput=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await _stream(h.link, 11)
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert loop.time() - started >= 0.19  # 10 intervals of 20 ms


async def test_an_invalid_streamed_segment_is_rejected_and_gives_its_room_back(
    start_link: StartLink,
) -> None:
    h = await start_link(window=2)
    got: list[Outcome] = []
    h.link.send(request(destination="+" + "1" * 25), got.append)
    assert isinstance(got[0], Rejected)
    assert h.link.room() == 2


# --- receipts stored without a task each (store_receipt), answered once stored ---------


async def test_receipts_to_a_sink_are_acknowledged_once_stored(start_link: StartLink) -> None:
    sink = SinkHandler()
    h = await start_link(sim=SimConfig(dlr=True), handler=sink)
    sink.hold = True
    outcomes = await _stream(h.link, 5)
    await eventually(lambda: len(sink.held) == 5)
    assert h.link.health().counters["receipts"] == 0  # not yet stored: not acknowledged
    sink.release()
    await eventually(lambda: h.link.health().counters["receipts"] == 5)
    assert {r.smsc_id for r in sink.receipts} == {
        o.smsc_id for o in outcomes if isinstance(o, Accepted)
    }


async def test_a_receipt_the_sink_fails_is_refused_and_comes_again(start_link: StartLink) -> None:
    sink = SinkHandler()
    sink.fail_next = 1
    h = await start_link(sim=SimConfig(dlr=True), handler=sink)
    [outcome] = await _stream(h.link, 1)
    await eventually(lambda: len(sink.receipts) == 1)
    assert isinstance(outcome, Accepted)
    assert sink.receipts[0].smsc_id == outcome.smsc_id
    refusals = [r for r in h.sim.records if r["event"] == "deliver_sm_refused"]
    assert [r["status"] for r in refusals] == ["ESME_RX_T_APPN"]


async def test_receipts_beyond_the_concurrency_wait_their_turn(
    start_link: StartLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deliveries_module, "DELIVER_CONCURRENCY", 3)
    sink = SinkHandler()
    h = await start_link(sim=SimConfig(dlr=True), handler=sink)
    sink.hold = True
    await _stream(h.link, 8)
    await eventually(lambda: len(sink.held) == 3 and h.link.deliveries.waiting == 5)
    stored, done = sink.held.pop(0)  # one stored: exactly one that waited takes its place
    sink.receipts.append(stored)
    done(None)
    await eventually(lambda: h.link.deliveries.waiting == 4)
    assert len(sink.held) == 3  # back to the cap, not past it
    assert stored not in [receipt for receipt, _ in sink.held]
    assert h.link.health().counters["receipts"] == 1
    sink.hold = False
    sink.release()
    await eventually(lambda: len(sink.receipts) == 8)


# --- a deliver_sm flood: read no faster than it is handled ---------------------------

READ_SIZE = 256 * 1024  # what one read of an asyncio socket transport takes at most


def _per_read(sample: bytes) -> int:
    """deliver_sm one read can bring at most, each at least as long as ``sample``."""
    return READ_SIZE // len(sample) + 1


async def test_a_receipt_flood_is_read_no_faster_than_it_is_stored(
    start_link: StartLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deliveries_module, "DELIVER_CONCURRENCY", 10)
    monkeypatch.setattr(deliveries_module, "INBOUND_HIGH", 40)
    monkeypatch.setattr(deliveries_module, "INBOUND_LOW", 20)
    sink = SinkHandler()
    sink.hold = True  # the store is slow: nothing is stored until released
    h = await start_link(handler=sink)
    flood = 20_000
    ids = [f"{0x100000 + i:x}" for i in range(flood)]
    one = SmscSession(config=SimConfig(), ids=itertools.count(), rng=random.Random(1))
    one.send_receipt(0.0, ids[-1])  # the longest of them
    bound = 40 + _per_read(one.data_to_send())
    h.sim.inject_receipts(ids)

    def held() -> int:
        return len(sink.held) + h.link.deliveries.waiting

    await eventually(
        lambda: (
            len(sink.held) == 10
            and (h.link.health().counters.get("reading_paused", 0) >= 1 or held() > bound)
        )
    )
    assert held() <= bound < flood  # the rest waits at the SMSC
    assert h.link.health().gauges["inbound_unanswered"] == held()
    assert h.sim.unanswered() == flood  # none answered before it is stored
    sink.hold = False
    sink.release()
    await eventually(lambda: len(sink.receipts) == flood, timeout=30)
    await eventually(lambda: h.sim.unanswered() == 0)
    assert sorted(r.smsc_id for r in sink.receipts) == ids  # each once
    health = h.link.health()
    assert health.counters["receipts"] == flood
    assert health.gauges["inbound_unanswered"] == 0
    assert health.counters["reading_paused"] >= 1


async def test_an_mo_flood_is_read_no_faster_than_it_is_handled(
    start_link: StartLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deliveries_module, "DELIVER_CONCURRENCY", 5)
    monkeypatch.setattr(deliveries_module, "INBOUND_HIGH", 20)
    monkeypatch.setattr(deliveries_module, "INBOUND_LOW", 10)
    release = asyncio.Event()
    peak = 0

    class SlowHandler(RecordingHandler):
        async def on_inbound(self, part: InboundPart) -> None:
            nonlocal peak
            peak = max(peak, h.link.deliveries.handing_over)
            await release.wait()
            self.parts.append(part)

    flood = 15_000
    h = await start_link(handler=SlowHandler())
    [sample] = mo_pdus(source="+33612345678", destination="36111", text="mo 0")
    bound = 20 + _per_read(encode(sample))
    for i in range(flood):
        h.sim.inject_mo(source="+33612345678", destination="36111", text=f"mo {i}")
    await eventually(
        lambda: (
            h.link.health().counters.get("reading_paused", 0) >= 1
            or h.link.deliveries.handing_over > bound
        )
    )
    assert h.link.deliveries.handing_over <= bound < flood  # tasks: one per deliver_sm read
    release.set()
    await eventually(lambda: len(h.handler.parts) == flood, timeout=30)
    assert peak <= bound
    assert sorted(p.payload for p in h.handler.parts) == sorted(
        f"mo {i}".encode() for i in range(flood)
    )
    await eventually(lambda: h.sim.unanswered() == 0)


async def test_a_flooding_peer_that_reads_no_answers_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deliveries_module, "WRITE_BACKLOG_LIMIT", 64 * 1024)
    closed = asyncio.Event()
    bound = asyncio.Event()

    async def flooding_smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(16)
        length, command_id, _, seq = HEADER.unpack(header)
        await reader.readexactly(length - 16)
        # small kernel buffers both ways: what is not read piles up in the link's own
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(
            encode(
                BindResp(
                    command_id=CommandId(command_id | 0x80000000), sequence=seq, system_id="flood"
                )
            )
        )
        await bound.wait()
        [pdu] = mo_pdus(source="+33612345678", destination="36111", text="x")
        # 50,000 deliver_sm at once, and never a deliver_sm_resp read
        writer.write(b"".join(encode(pdu._replace(sequence=n)) for n in range(1, 50_000)))
        try:
            await reader.read()  # only the link's cut ends this
        except ConnectionError:
            pass
        finally:
            closed.set()
            writer.close()

    server = await asyncio.start_server(flooding_smsc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = SmppLinkConfig.from_table({"name": "t", "port": port, "reconnect_min": 5})
    with structlog.testing.capture_logs() as logs:
        link = SmppLink(config=config, handler=RecordingHandler())
        task = asyncio.create_task(link.run())
        try:
            await link.wait_bound(5)
            assert link.connection is not None
            assert link.connection.transport is not None
            link.connection.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
            bound.set()
            await asyncio.wait_for(closed.wait(), 30)
            await eventually(lambda: any(e["event"] == "smpp_peer_unresponsive" for e in logs))
            [cut] = [e for e in logs if e["event"] == "smpp_peer_unresponsive"]
            assert cut["unread"] > 64 * 1024
            assert link.health().counters["inbound"] < 49_999  # not read to the end
        finally:
            await link.stop(timeout=1)
            await asyncio.wait_for(task, 5)
            server.close()
            await server.wait_closed()
