"""Start-up sequence of a modem: echo, errors, SIM and PIN, PDU mode, indications, storage,
network registration."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.port import AtPort, info_value
from drivers.modem.protocol.at import Command, Response
from gateway.model.errors import LinkError


class InitFailed(LinkError):
    """The modem answered, but cannot be made ready (yet)."""


class PinRefused(LinkError):
    """The SIM refused the PIN or needs a PUK: the link stays down until someone acts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    phase2plus: bool  # AT+CSMS service 1: routed +CMT/+CDS must be acknowledged (AT+CNMA)
    cnmi: str
    gauges: dict[str, float] = field(default_factory=dict)


def _expand(group: str) -> set[int]:
    values: set[int] = set()
    for raw in group.split(","):
        part = raw.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            if lo.isdigit() and hi.isdigit():
                values.update(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            values.add(int(part))
    return values


def choose_cnmi(offer: str) -> str:
    """AT+CNMI settings from what ``AT+CNMI=?`` offers (TS 27.005 3.4.1).

    mode 2 (buffer indications while the link is busy, flush after), else 1;
    mt 1 (store the message, indicate +CMTI: nothing is lost if we are slow),
    else 2 (+CMT, acknowledged), else 0 (the poll reads storage); bm 0;
    ds 1 (+CDS status reports), else 2 (+CDSI, stored), else 0; bfr 0.
    """
    groups = [_expand(g) for g in re.findall(r"\(([^)]*)\)", offer)]
    groups += [set() for _ in range(5 - len(groups))]

    def pick(index: int, preferred: tuple[int, ...]) -> int:
        offered = groups[index]
        if not offered:
            return preferred[0]
        return next((v for v in preferred if v in offered), min(offered))

    mode = pick(0, (2, 1, 3))
    mt = pick(1, (1, 2, 0))
    ds = pick(3, (1, 2, 0))
    return f"{mode},{mt},0,{ds},0"


async def sim_command(
    port: AtPort,
    command: Command,
    *,
    retries: int,
    sleep: Callable[[float], Awaitable[None]],
    delay: float,
) -> Response:
    """A command that touches the SIM, retried while the SIM is busy (CME 14 / CMS 314)."""
    for attempt in range(retries + 1):
        response = await port.command(command)
        error = response.error
        busy = error is not None and (error.kind, error.code) in (("CME", 14), ("CMS", 314))
        if not busy or attempt == retries:
            return response
        await sleep(min(delay * 2**attempt, 10.0))
    raise AssertionError("unreachable")  # pragma: no cover


async def initialise(
    *,
    port: AtPort,
    config: ModemLinkConfig,
    sleep: Callable[[float], Awaitable[None]],
    retry_delay: float,
    clock: Callable[[], float],
    log: Any,
) -> InitResult:
    """Bring the modem from any state to "ready to send and receive in PDU mode"."""
    timeout = config.command_timeout

    def cmd(line: str, *expect: str, secret: bool = False) -> Command:
        return Command(line=line, expect=expect, timeout=timeout, secret=secret)

    async def sim(command: Command) -> Response:
        return await sim_command(
            port, command, retries=config.sim_busy_retries, sleep=sleep, delay=retry_delay
        )

    if not await port.resync(timeout=timeout):
        raise InitFailed("modem does not answer AT")
    await port.command(cmd("ATZ"))  # back to the stored profile; the rest is set below
    await port.command(cmd("ATE0"))
    await port.command(cmd("AT+CMEE=1"))
    await _unlock_sim(config, sim, cmd, log)
    if not (await port.command(cmd("AT+CMGF=0"))).ok:
        raise InitFailed("modem refuses PDU mode (AT+CMGF=0)")
    csms = await port.command(cmd("AT+CSMS?", "+CSMS"))
    phase2plus = any(info_value(line).split(",")[0].strip() == "1" for line in csms.lines)
    offer = await port.command(cmd("AT+CNMI=?", "+CNMI"))
    cnmi = choose_cnmi(" ".join(offer.lines)) if offer.ok else "2,1,0,1,0"
    if not (await port.command(cmd(f"AT+CNMI={cnmi}"))).ok:
        log.warning("modem_indications_refused", cnmi=cnmi)
    store = config.storage
    cpms = await sim(cmd(f'AT+CPMS="{store}","{store}","{store}"', "+CPMS"))
    if not cpms.ok:
        log.warning("modem_storage_refused", storage=store, error=cpms.error and cpms.error.name)
    gauges = await _wait_registered(
        port, config, cmd, sleep=sleep, retry_delay=retry_delay, clock=clock
    )
    csq = await port.command(cmd("AT+CSQ", "+CSQ"))
    for line in csq.lines:
        rssi = info_value(line).split(",")[0].strip()
        if rssi.isdigit() and int(rssi) != 99:
            gauges["signal_dbm"] = -113.0 + 2 * int(rssi)
    return InitResult(phase2plus=phase2plus, cnmi=cnmi, gauges=gauges)


async def _unlock_sim(
    config: ModemLinkConfig,
    sim: Callable[[Command], Awaitable[Response]],
    cmd: Callable[..., Command],
    log: Any,
) -> None:
    pin_sent = False
    for _ in range(3):
        state = await sim(cmd("AT+CPIN?", "+CPIN"))
        if not state.ok:
            error = state.error
            if error is not None and error.kind == "CME" and error.code == 10:
                raise InitFailed("no SIM card in the modem (+CME ERROR: 10)")
            raise InitFailed(f"SIM state unknown ({error.name if error else 'ERROR'})")
        answer = next((info_value(line) for line in state.lines if line.startswith("+CPIN")), "")
        if answer == "READY":
            return
        if answer == "SIM PIN":
            if config.pin is None:
                msg = "the SIM needs a PIN: set 'pin' in the link (env:NAME or file:/path)"
                raise PinRefused(msg)
            if pin_sent:
                raise InitFailed("the SIM still asks for its PIN after it was accepted")
            pin_sent = True
            result = await sim(cmd(f'AT+CPIN="{config.pin.reveal()}"', secret=True))
            if not result.ok:
                error = result.error
                name = error.name if error else "ERROR"
                msg = (
                    f"the SIM refused the PIN from {config.pin.source} ({name}); not retried "
                    "because a SIM locks after three wrong PINs"
                )
                raise PinRefused(msg)
            log.info("sim_pin_entered", source=config.pin.source)
            continue
        if "PUK" in answer:
            raise PinRefused(f"the SIM is locked and needs its PUK ({answer})")
        raise PinRefused(f"the SIM asks for {answer!r}, which smsgw cannot provide")
    raise InitFailed("the SIM did not become ready")


async def _wait_registered(
    port: AtPort,
    config: ModemLinkConfig,
    cmd: Callable[..., Command],
    *,
    sleep: Callable[[float], Awaitable[None]],
    retry_delay: float,
    clock: Callable[[], float],
) -> dict[str, float]:
    deadline = clock() + config.registration_timeout
    while True:
        creg = await port.command(cmd("AT+CREG?", "+CREG"))
        for line in creg.lines:
            fields = info_value(line).split(",")
            stat = (fields[1] if len(fields) > 1 else fields[0]).strip()
            if stat in ("1", "5"):
                return {"registered": 1.0}
        if clock() >= deadline:
            msg = f"not registered on a network after {config.registration_timeout:g} s"
            raise InitFailed(msg)
        await sleep(retry_delay)
