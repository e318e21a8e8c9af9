"""What the virtual modem is: its quirk modes (:class:`SimConfig`) and the lines
it answers the same way every time (its identity, its operator)."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.modem.simulator.network import SMSC

SIM_COMMANDS = ("+CPIN", "+CPMS", "+CMGR", "+CMGL", "+CMGD", "+CMGS", "+CSCA")
# commands answered with the same lines every time (AT+CMEE=0 among them: the
# simulator keeps the error mode it has)
STATIC_REPLIES: dict[str, list[str]] = {
    "": [],
    "&F": [],
    "V1": [],
    "+CMEE=0": [],
    "+CSMS=0": [],
    "+CREG=0": [],
    "+CREG=1": [],
    "I": ["smsgw modem simulator"],
    "+CGMI": ["smsgw modem simulator"],
    "+GMI": ["smsgw modem simulator"],
    "+CGMM": ["SIM800-SIM"],
    "+CGSN": ["490154203237518"],
    "+COPS?": ['+COPS: 0,0,"SIMNET"'],
    "+CSCA?": [f'+CSCA: "{SMSC}",145'],
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    echo: bool = False  # echo on, and ATE0 does not turn it off
    urc_inside_replies: bool = False
    sim_busy: int = 0  # first N SIM commands answer +CME ERROR: 14
    cms_error_share: float = 0.0  # share of sends answered +CMS ERROR
    cms_error_code: int = 500
    hang_after: int | None = None  # stop answering after N commands
    hang_for: int | None = None  # ...for this many commands (None: until resume())
    pin: str | None = None
    pin_attempts: int = 3
    report_delay: float = 0.0  # seconds from +CMGS to its +CDS
    report_status: int = 0x00  # TP-ST of the status reports
    csq: int = 20  # AT+CSQ rssi (0-31, 99 unknown)
    registered: bool = True
    seed: int = 0
    cnmi_offer: str = "(0-2),(0-3),(0,2),(0-2),(0,1)"  # what AT+CNMI=? answers
    csms_service: int = 0  # 1: phase 2+, routed +CMT/+CDS need AT+CNMA
    wake_error: bool = False  # answer ERROR to a line holding only ESC (the wake-up line)
