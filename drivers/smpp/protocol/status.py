"""SMPP 3.4 command_status values, their names, and how a submit outcome is classified.

The classification is a table (:data:`DEFAULT_DISPOSITIONS`); a link may override
entries in its config (``status_map``). Anything not named in the table is a
permanent rejection.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

ESME_ROK = 0x00000000
ESME_RINVMSGLEN = 0x00000001
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RSYSERR = 0x00000008
ESME_RINVPRTFLG = 0x00000006
ESME_RINVSRCADR = 0x0000000A
ESME_RINVDSTADR = 0x0000000B
ESME_RINVMSGID = 0x0000000C
ESME_RBINDFAIL = 0x0000000D
ESME_RINVPASWD = 0x0000000E
ESME_RINVSYSID = 0x0000000F
ESME_RCANCELFAIL = 0x00000011
ESME_RMSGQFUL = 0x00000014
ESME_RINVESMCLASS = 0x00000043
ESME_RSUBMITFAIL = 0x00000045
ESME_RINVSRCTON = 0x00000048
ESME_RINVDSTTON = 0x00000050
ESME_RINVDSTNPI = 0x00000051
ESME_RTHROTTLED = 0x00000058
ESME_RINVSCHED = 0x00000061
ESME_RINVEXPIRY = 0x00000062
ESME_RQUERYFAIL = 0x00000067
ESME_RINVDCS = 0x00000104  # SMPP 5.0's code for a data_coding the SMSC does not take
ESME_RX_T_APPN = 0x00000064
ESME_RX_P_APPN = 0x00000065
ESME_RX_R_APPN = 0x00000066
ESME_RINVOPTPARSTREAM = 0x000000C0
ESME_RINVOPTPARAMVAL = 0x000000C4
ESME_RDELIVERYFAILURE = 0x000000FE
ESME_RUNKNOWNERR = 0x000000FF

STATUS_NAMES: dict[int, str] = {
    0x00: "ESME_ROK",
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    0x06: "ESME_RINVPRTFLG",
    0x07: "ESME_RINVREGDLVFLG",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID",
    0x11: "ESME_RCANCELFAIL",
    0x13: "ESME_RREPLACEFAIL",
    0x14: "ESME_RMSGQFUL",
    0x15: "ESME_RINVSERTYP",
    0x33: "ESME_RINVNUMDESTS",
    0x34: "ESME_RINVDLNAME",
    0x40: "ESME_RINVDESTFLAG",
    0x42: "ESME_RINVSUBREP",
    0x43: "ESME_RINVESMCLASS",
    0x44: "ESME_RCNTSUBDL",
    0x45: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    0x53: "ESME_RINVSYSTYP",
    0x54: "ESME_RINVREPFLAG",
    0x55: "ESME_RINVNUMMSGS",
    0x58: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    0x63: "ESME_RINVDFTMSGID",
    0x64: "ESME_RX_T_APPN",
    0x65: "ESME_RX_P_APPN",
    0x66: "ESME_RX_R_APPN",
    0x67: "ESME_RQUERYFAIL",
    0xC0: "ESME_RINVOPTPARSTREAM",
    0xC1: "ESME_ROPTPARNOTALLWD",
    0xC2: "ESME_RINVPARLEN",
    0xC3: "ESME_RMISSINGOPTPARAM",
    0xC4: "ESME_RINVOPTPARAMVAL",
    0xFE: "ESME_RDELIVERYFAILURE",
    0xFF: "ESME_RUNKNOWNERR",
    0x104: "ESME_RINVDCS",
}
STATUS_CODES: dict[str, int] = {name: code for code, name in STATUS_NAMES.items()}


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` for 0x58; unnamed values as ``0x000000NN``."""
    name = STATUS_NAMES.get(status)
    return name if name is not None else f"0x{status:08X}"


def parse_status(text: str) -> int:
    """A status given by name (``ESME_RTHROTTLED``) or number (``0x58``, ``88``)."""
    upper = text.strip().upper()
    if upper in STATUS_CODES:
        return STATUS_CODES[upper]
    try:
        value = int(upper, 0) if upper.startswith("0X") else int(upper)
    except ValueError:
        msg = f"unknown command_status {text!r} (a name like ESME_RTHROTTLED or a number)"
        raise ValueError(msg) from None
    if not 0 <= value <= 0xFFFFFFFF:
        msg = f"command_status {text!r} is out of range"
        raise ValueError(msg)
    return value


class Disposition(enum.Enum):
    """What a non-OK submit_sm_resp means for the segment."""

    RETRY = "retry"  # transient: try again later
    THROTTLED = "throttled"  # transient, and the whole link slows down
    PERMANENT = "permanent"  # retrying will not help


DEFAULT_DISPOSITIONS: dict[int, Disposition] = {
    ESME_RTHROTTLED: Disposition.THROTTLED,
    ESME_RMSGQFUL: Disposition.THROTTLED,
    ESME_RSYSERR: Disposition.RETRY,
    ESME_RINVBNDSTS: Disposition.RETRY,  # sent while the SMSC thought us unbound
    ESME_RSUBMITFAIL: Disposition.RETRY,
    ESME_RX_T_APPN: Disposition.RETRY,
    ESME_RDELIVERYFAILURE: Disposition.RETRY,
    ESME_RUNKNOWNERR: Disposition.RETRY,
}


class StatusTable:
    """The default dispositions with a link's overrides on top."""

    __slots__ = ("_table",)

    def __init__(self, *, overrides: Mapping[int, Disposition] | None = None) -> None:
        self._table = dict(DEFAULT_DISPOSITIONS)
        if overrides:
            self._table.update(overrides)

    def classify(self, status: int) -> Disposition:
        return self._table.get(status, Disposition.PERMANENT)

    def overrides(self) -> dict[int, Disposition]:
        """Entries that differ from the defaults (for ``check-config``)."""
        return {
            code: disp
            for code, disp in self._table.items()
            if DEFAULT_DISPOSITIONS.get(code, Disposition.PERMANENT) is not disp
        }
