"""The modem link over a real pty against the simulator, quirk by quirk."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from drivers.modem.link.port import AtPort
from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.pty import PtyModem
from gateway.codec import raw_segment
from gateway.codec.alphabet import to_septets
from gateway.link.interface import Concat, submit
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.raw_body import RawBody
from tests.drivers.modem.harness import Recorder, request, running_link
from tests.drivers.modem.segments import gsm_segment
from tests.waiting import eventually

QUIRKS = {
    "plain": SimConfig(),
    "echo": SimConfig(echo=True),
    "urc_inside_replies": SimConfig(urc_inside_replies=True),
    "echo_and_urcs_inside": SimConfig(echo=True, urc_inside_replies=True),
}


@pytest.mark.parametrize("quirk", list(QUIRKS))
async def test_send_is_accepted_and_its_status_report_matched(quirk: str) -> None:
    async with running_link(QUIRKS[quirk], poll_interval=0.2) as (sim, link, rec):
        outcome = await submit(link, request())
        assert isinstance(outcome, Accepted)
        assert outcome.smsc_id.startswith("0:+33612345678:")
        await eventually(lambda: len(rec.receipts) == 1)
        (receipt,) = rec.receipts
        assert receipt.smsc_id == outcome.smsc_id
        assert receipt.state is ReceiptState.DELIVERED
        assert receipt.destination == "+33612345678"
        (tpdu,) = sim.modem.sent
        assert tpdu[0] & 0x20  # status report requested


async def test_references_increment_and_receipts_go_to_the_right_segment() -> None:
    async with running_link(SimConfig(report_delay=0.05)) as (_sim, link, rec):
        first = await submit(link, request("+33600000001"))
        second = await submit(link, request("+33600000002"))
        assert isinstance(first, Accepted)
        assert isinstance(second, Accepted)
        assert first.smsc_id.split(":")[0] == "0"
        assert second.smsc_id.split(":")[0] == "1"
        await eventually(lambda: len(rec.receipts) == 2)
        assert {r.smsc_id for r in rec.receipts} == {first.smsc_id, second.smsc_id}
        assert all(r.destination == r.smsc_id.split(":")[1] for r in rec.receipts)


async def test_expired_status_report_maps_to_expired() -> None:
    async with running_link(SimConfig(report_status=0x46)) as (_sim, link, rec):
        outcome = await submit(link, request())
        assert isinstance(outcome, Accepted)
        await eventually(lambda: len(rec.receipts) == 1)
        assert rec.receipts[0].state is ReceiptState.EXPIRED
        assert rec.receipts[0].error == "TP-ST 0x46"


async def test_submit_pdu_carries_validity_and_concat_header() -> None:
    async with running_link() as (sim, link, _rec):
        seg = gsm_segment("part two", reference=9, total=2, sequence=2)
        outcome = await submit(link, request(segment=seg, validity=3600, want_receipt=False))
        assert isinstance(outcome, Accepted)
        (tpdu,) = sim.modem.sent
        assert tpdu[0] == 0x51  # SMS-SUBMIT, relative VP, UDHI, no SRR
        assert seg.udh + seg.payload in tpdu


@pytest.mark.parametrize(
    "raw",
    [
        RawBody(
            data_coding=0x00, udh=bytes((5, 0, 3, 7, 2, 2)), body=to_septets("two"), encoding="gsm7"
        ),
        RawBody(
            data_coding=0xF5,
            udh=bytes((6, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0)),
            body=b"\x00\xff",
            encoding="8bit",
        ),
    ],
    ids=["gsm7", "binary"],
)
async def test_a_segment_an_esme_cut_goes_with_tp_udhi_and_its_header(raw: RawBody) -> None:
    async with running_link() as (sim, link, _rec):
        seg = raw_segment(raw, packed=link.packed)
        outcome = await submit(link, request(segment=seg, want_receipt=False))
        assert isinstance(outcome, Accepted)
        (tpdu,) = sim.modem.sent
        assert tpdu[0] == 0x41  # SMS-SUBMIT, TP-UDHI
        # TP-DCS, TP-UDL, then the header as given and the body (septets packed after it)
        assert tpdu.endswith(bytes((raw.data_coding, seg.udl)) + raw.udh + seg.payload)


async def test_stored_and_new_mo_messages_are_handed_over_then_deleted() -> None:
    sim_config = SimConfig(urc_inside_replies=True)
    async with running_link(sim_config, wait_bound=False) as (sim, link, rec):
        # one message arrives while the link is starting (read by AT+CMGL), one after
        sim.inject_mo(originator="+33611111111", text="early")
        await eventually(lambda: link.bound)
        await eventually(lambda: len(rec.parts) == 1)
        sim.inject_mo(originator="+33622222222", text="x" * 200, reference=77)
        await submit(link, request())  # a reply for the URCs to ride in
        await eventually(lambda: len(rec.parts) == 3)
        assert rec.parts[0].payload == b"early"
        assert rec.parts[0].source == "+33611111111"
        assert [p.concat for p in rec.parts[1:]] == [
            Concat(reference=77, total=2, sequence=1),
            Concat(reference=77, total=2, sequence=2),
        ]
        assert b"".join(p.payload for p in rec.parts[1:]) == b"x" * 200
        await eventually(lambda: sim.modem.stored == 0)


async def test_refused_mo_stays_stored_until_the_handler_takes_it() -> None:
    rec = Recorder(refuse=1)
    async with running_link(handler=rec, poll_interval=0.1) as (sim, _link, _):
        sim.inject_mo(originator="+33611111111", text="keep me")
        await eventually(lambda: rec.refused == 1)
        assert sim.modem.stored == 1  # not deleted: the handler did not store it
        await eventually(lambda: len(rec.parts) == 1)  # the poll reads it again
        await eventually(lambda: sim.modem.stored == 0)
        assert rec.parts[0].payload == b"keep me"


async def test_routed_cmt_is_acknowledged_after_the_handler() -> None:
    sim_config = SimConfig(cnmi_offer="(1,2),(0,2),(0),(0,1),(0)", csms_service=1)
    async with running_link(sim_config) as (sim, _link, rec):
        assert "AT+CNMI=2,2,0,1,0" in sim.modem.commands
        sim.inject_mo(originator="+33633333333", text="routed")
        await eventually(lambda: sim.modem.acks == 1)
        assert rec.parts[0].payload == b"routed"
        assert sim.modem.stored == 0


async def test_stored_status_reports_via_cdsi_are_read_then_deleted() -> None:
    sim_config = SimConfig(cnmi_offer="(2),(1),(0),(0,2),(0)")
    async with running_link(sim_config) as (sim, link, rec):
        assert "AT+CNMI=2,1,0,2,0" in sim.modem.commands
        outcome = await submit(link, request())
        assert isinstance(outcome, Accepted)
        await eventually(lambda: len(rec.receipts) == 1)
        assert rec.receipts[0].smsc_id == outcome.smsc_id
        await eventually(lambda: sim.modem.stored == 0)
        assert any(c.startswith("AT+CMGD=") for c in sim.modem.commands)


async def test_routed_status_report_is_acknowledged_in_phase_2_plus() -> None:
    async with running_link(SimConfig(csms_service=1)) as (sim, link, rec):
        outcome = await submit(link, request())
        assert isinstance(outcome, Accepted)
        await eventually(lambda: sim.modem.acks == 1)
        assert rec.receipts[0].smsc_id == outcome.smsc_id


async def test_sim_busy_on_first_tries_is_waited_out() -> None:
    async with running_link(SimConfig(sim_busy=3)) as (sim, link, _rec):
        assert sim.modem.commands.count("AT+CPIN?") == 4
        assert isinstance(await submit(link, request()), Accepted)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(500, Retry), (332, Retry), (42, Retry), (21, Rejected), (1, Rejected), (304, Rejected)],
)
async def test_cms_errors_on_send_are_classified(code: int, expected: type) -> None:
    sim_config = SimConfig(cms_error_share=1.0, cms_error_code=code)
    async with running_link(sim_config) as (_sim, link, _rec):
        outcome = await submit(link, request())
        assert isinstance(outcome, expected)
        assert isinstance(outcome, Retry | Rejected)
        assert outcome.reason == f"CMS_{code}"
        assert outcome.status == code
        assert link.bound


async def test_cms_errors_on_a_share_of_sends() -> None:
    sim_config = SimConfig(cms_error_share=0.5, cms_error_code=500, seed=7)
    async with running_link(sim_config) as (sim, link, _rec):
        outcomes = [await submit(link, request(message_id=f"m{i}")) for i in range(20)]
        accepted = [o for o in outcomes if isinstance(o, Accepted)]
        retried = [o for o in outcomes if isinstance(o, Retry)]
        assert len(accepted) + len(retried) == 20
        assert 0 < len(retried) < 20
        assert len(sim.modem.sent) == len(accepted)


# the start-up sequence is 13 commands; AT+CMGS is the 14th and its PDU the 15th
STARTUP_COMMANDS = 13


async def test_hang_during_send_resolves_as_retry_and_the_link_recovers() -> None:
    sim_config = SimConfig(hang_after=STARTUP_COMMANDS + 1, hang_for=3)
    async with running_link(sim_config, command_timeout=0.3, send_timeout=0.5) as (sim, link, _rec):
        outcome = await submit(link, request())
        assert outcome == Retry(reason="timeout", delay=0.05)
        assert not link.bound  # submits go elsewhere while it recovers
        assert await submit(link, request()) == Retry(reason="link_down", delay=0.05)
        await eventually(lambda: link.bound)
        health = link.health()
        assert health.counters["reinits"] >= 1
        assert health.counters["reopens"] == 1
        again = await submit(link, request())
        assert isinstance(again, Accepted)
        (tpdu,) = sim.modem.sent  # the hung PDU was never sent: exactly one copy went out
        assert tpdu.endswith(request().segment.payload)


async def test_modem_that_stays_hung_is_marked_down_then_comes_back() -> None:
    sim_config = SimConfig(hang_after=STARTUP_COMMANDS)
    async with running_link(sim_config, command_timeout=0.3, send_timeout=0.5) as (sim, link, _rec):
        outcome = await submit(link, request())
        assert isinstance(outcome, Retry)
        assert outcome.reason == "timeout"
        await eventually(lambda: link.health().counters.get("reopens", 0) >= 1)
        await eventually(lambda: "modem does not answer" in link.health().detail)
        assert not link.health().bound
        assert (await submit(link, request())).reason == "link_down"  # type: ignore[union-attr]
        sim.resume()
        await eventually(lambda: link.bound)
        assert isinstance(await submit(link, request()), Accepted)


@pytest.mark.parametrize("echo", [False, True], ids=["echo_off", "echo_on"])
async def test_modem_answering_error_to_the_wake_up_line_comes_up(echo: bool) -> None:
    # the ERROR for the ESC line arrives after AT was written: it is not AT's answer
    async with running_link(SimConfig(wake_error=True, echo=echo)) as (sim, link, _rec):
        assert isinstance(await submit(link, request()), Accepted)
        assert sim.modem.commands[0] == "AT"


async def test_resync_retries_at_when_a_late_answer_beats_the_drain() -> None:
    # no quiet period at all: the wake-up's ERROR is taken for the first AT's answer
    async with PtyModem(SimConfig(wake_error=True)) as sim:
        port = await AtPort.open(sim.device, baudrate=115200, on_urc=lambda _urc: None)
        try:
            assert await port.resync(timeout=2.0, quiet=0.0)
            assert sim.modem.commands == ["AT", "AT"]
            # the second AT took the first one's OK; its own OK comes late and is no answer
            await eventually(lambda: port.stale_answers == 1)
            assert not port.in_flight
        finally:
            port.close()


async def test_pin_is_entered_and_never_logged() -> None:
    with capture_logs() as logs:
        sim_config = SimConfig(pin="4821", echo=True)  # the modem echoes the PIN command
        async with running_link(sim_config, pin=_secret("4821")) as (sim, link, _):
            assert 'AT+CPIN="****"' in sim.modem.commands
            assert isinstance(await submit(link, request()), Accepted)
    assert any(e["event"] == "sim_pin_entered" and e["source"] == "env:MODEM_PIN" for e in logs)
    assert "4821" not in repr(logs)


async def test_wrong_pin_is_tried_once_and_the_link_stays_down() -> None:
    with capture_logs() as logs:
        async with running_link(SimConfig(pin="4821"), pin=_secret("1111"), wait_bound=False) as (
            sim,
            link,
            _,
        ):
            await eventually(lambda: "refused the PIN" in link.health().detail)
            assert sim.modem.commands.count('AT+CPIN="****"') == 1
            assert not link.health().bound
            assert (await submit(link, request())).reason == "link_down"  # type: ignore[union-attr]
            assert sim.modem.commands.count('AT+CPIN="****"') == 1
    assert any(e["event"] == "sim_pin_refused" for e in logs)
    assert "1111" not in repr(logs)
    assert "1111" not in link.health().detail


async def test_two_modems_run_side_by_side_as_two_links() -> None:
    async with (
        running_link(SimConfig(), name="modem-a") as (sim_a, link_a, rec_a),
        running_link(SimConfig(echo=True), name="modem-b") as (sim_b, link_b, rec_b),
    ):
        outcomes = await asyncio.gather(
            *(
                submit(link, request(f"+3361234567{i}", message_id=f"m{i}"))
                for i, link in enumerate([link_a, link_b, link_a, link_b])
            )
        )
        assert all(isinstance(o, Accepted) for o in outcomes)
        assert len(sim_a.modem.sent) == 2
        assert len(sim_b.modem.sent) == 2
        await eventually(lambda: len(rec_a.receipts) == len(rec_b.receipts) == 2)
        assert {r.link for r in rec_a.receipts} == {"modem-a"}
        assert {r.link for r in rec_b.receipts} == {"modem-b"}


async def test_signal_and_registration_gauges() -> None:
    async with running_link(SimConfig(csq=20), poll_interval=0.05) as (sim, link, _rec):
        await eventually(lambda: sim.modem.commands.count("AT+CSQ") >= 2)
        health = link.health()
        assert health.gauges == {"signal_dbm": -73.0, "registered": 1.0}
        assert health.up
        assert health.driver == "modem"


async def test_rate_limit_waits_on_the_injected_clock() -> None:
    now = [1000.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async with running_link(rate=30, link_kw={"clock": lambda: now[0], "sleep": fake_sleep}) as (
        sim,
        link,
        _rec,
    ):
        waits.clear()  # start-up retries do not count
        for i in range(3):
            assert isinstance(await submit(link, request(message_id=f"m{i}")), Accepted)
        assert waits == [pytest.approx(2.0), pytest.approx(2.0)]
        assert len(sim.modem.sent) == 3


def _secret(value: str) -> object:
    from gateway.model.secrets import Secret

    return Secret(value, source="env:MODEM_PIN")


def test_modem_link_is_a_link() -> None:
    from drivers.modem.link.config import ModemLinkConfig
    from drivers.modem.link.driver import ModemLink
    from gateway.link.interface import Link

    link: Link = ModemLink(
        config=ModemLinkConfig(name="m", device="/dev/null"), handler=Recorder()
    )  # mypy checks the protocol
    assert link.concat == "udh8"
    assert link.packed is True
    assert link.health().bound is False


async def test_unplugged_modem_marks_the_link_down() -> None:
    async with running_link() as (sim, link, _rec):
        sim.close()  # the pty disappears, as a USB stick pulled out
        await eventually(lambda: not link.health().up and not link.health().bound)
        outcome = await submit(link, request())
        assert isinstance(outcome, Retry)
        assert outcome.reason == "link_down"
