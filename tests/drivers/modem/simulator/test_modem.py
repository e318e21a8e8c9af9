"""The simulated modem without a pty: bytes in, bytes out."""

from __future__ import annotations

from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.modem import SimModem


def talk(sim: SimModem, line: str, now: float = 0.0) -> bytes:
    sim.receive_data(line.encode() + b"\r", now=now)
    return sim.take_output()


def test_basic_commands() -> None:
    sim = SimModem()
    assert talk(sim, "AT") == b"\r\nOK\r\n"
    assert talk(sim, "AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert talk(sim, "AT+BOGUS") == b"\r\nERROR\r\n"


def test_send_returns_incrementing_references_and_a_delayed_report() -> None:
    sim = SimModem(SimConfig(report_delay=5.0))
    talk(sim, "AT+CNMI=2,1,0,1,0")
    pdu = "0021000B913316325476F8000005E8329BFD06"  # SRR, "hello"
    assert talk(sim, "AT+CMGS=18") == b"\r\n> "
    sim.receive_data(pdu.encode() + b"\x1a", now=0.0)
    assert sim.take_output() == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert sim.get_timer() == 5.0
    sim.handle_timer(4.0)
    assert sim.take_output() == b""
    sim.handle_timer(5.0)
    assert sim.take_output().startswith(b"\r\n+CDS: ")
    talk(sim, "AT+CMGS=18")
    sim.receive_data(pdu.encode() + b"\x1a", now=0.0)
    assert b"+CMGS: 1" in sim.take_output()


def test_wrong_length_is_an_invalid_pdu() -> None:
    sim = SimModem()
    talk(sim, "AT+CMEE=1")
    talk(sim, "AT+CMGS=5")
    sim.receive_data(b"0011000B913316325476F8000000\x1a", now=0.0)
    assert sim.take_output() == b"\r\n+CMS ERROR: 304\r\n"


def test_escape_cancels_the_prompt() -> None:
    sim = SimModem()
    talk(sim, "AT+CMGS=18")
    sim.receive_data(b"00\x1b", now=0.0)
    assert sim.take_output() == b"\r\nOK\r\n"
    assert sim.sent == []


def test_hang_after_n_commands_for_k_commands() -> None:
    sim = SimModem(SimConfig(hang_after=1, hang_for=2))
    assert talk(sim, "AT") == b"\r\nOK\r\n"
    assert talk(sim, "AT") == b""
    assert talk(sim, "AT") == b""
    assert talk(sim, "AT") == b"\r\nOK\r\n"


def test_pin_quirk_counts_attempts_and_hides_the_pin() -> None:
    sim = SimModem(SimConfig(pin="1234"))
    talk(sim, "AT+CMEE=1")
    assert b"SIM PIN" in talk(sim, "AT+CPIN?")
    assert talk(sim, "AT+CMGL=4") == b"\r\n+CMS ERROR: 311\r\n"
    assert talk(sim, 'AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert talk(sim, 'AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert b"READY" in talk(sim, "AT+CPIN?")
    assert "1234" not in " ".join(sim.commands)


def test_sim_busy_first_commands() -> None:
    sim = SimModem(SimConfig(sim_busy=2))
    talk(sim, "AT+CMEE=1")
    assert talk(sim, "AT+CPIN?") == b"\r\n+CME ERROR: 14\r\n"
    assert talk(sim, "AT+CPMS?") == b"\r\n+CME ERROR: 14\r\n"
    assert b"READY" in talk(sim, "AT+CPIN?")


def test_injected_mo_is_stored_and_indicated() -> None:
    sim = SimModem()
    talk(sim, "AT+CNMI=2,1,0,1,0")
    assert sim.inject_mo(originator="+33611111111", text="hi") == 1
    assert sim.take_output() == b'\r\n+CMTI: "SM",1\r\n'
    out = talk(sim, "AT+CMGR=1")
    assert out.startswith(b"\r\n+CMGR: 0,,")
    talk(sim, "AT+CMGD=1")
    assert sim.stored == 0


def test_wake_error_answers_the_escape_line_with_error() -> None:
    plain, waking = SimModem(), SimModem(SimConfig(wake_error=True))
    for sim in (plain, waking):
        sim.receive_data(b"\x1b\r", now=0.0)
    assert plain.take_output() == b""
    assert waking.take_output() == b"\r\nERROR\r\n"
    assert talk(waking, "AT") == b"\r\nOK\r\n"
