"""The virtual modem's state between two commands: its settings, its SIM's
storage, the URCs it holds back and the status reports it owes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Stored:
    index: int
    pdu: bytes
    status: int = 0  # 0 unread, 1 read


@dataclass(slots=True)
class ModemState:
    echo: bool
    pin_ok: bool
    pin_attempts: int
    mt: int = 0  # +CNMI <mt>
    ds: int = 0  # +CNMI <ds>
    cmee: int = 0
    cmgf: int = 0
    next_mr: int = 0
    commands: int = 0
    sim_busy_left: int = 0
    hang_left: int | None = None
    hanging: bool = False
    awaiting_pdu: int | None = None  # TPDU length announced by AT+CMGS
    storage: dict[int, Stored] = field(default_factory=dict)
    held_urcs: list[bytes] = field(default_factory=list)
    timers: list[tuple[float, bytes]] = field(default_factory=list)
