"""Delivery receipts: the 'id:... stat:... err:...' text, the TLVs, message id forms.

SMSCs disagree on how they write a message id: some answer submit_sm_resp with
a hexadecimal id and name it in decimal in the receipt text, some pad with
zeros, some change case. :class:`IdNormaliser` turns both into one canonical
form (per-link setting ``receipt_id``), so ``Receipt.smsc_id`` equals the
``Accepted.smsc_id`` it reports on.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass

from drivers.smpp.addresses import address_text
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from gateway.link.interface import Receipt
from gateway.model.outcomes import ReceiptState

ID_FORMS = ("as-is", "hex", "decimal")

# esm_class message type bits (2-5): SMSC delivery receipt, SME delivery ack,
# SME manual/user ack, intermediate delivery notification
RECEIPT_TYPE_MASK = 0x3C
RECEIPT_TYPES = frozenset({0x04, 0x08, 0x10, 0x20})

STAT_STATES: dict[str, ReceiptState] = {
    "DELIVRD": ReceiptState.DELIVERED,
    "DELIVERED": ReceiptState.DELIVERED,
    "EXPIRED": ReceiptState.EXPIRED,
    "DELETED": ReceiptState.DELETED,
    "UNDELIV": ReceiptState.UNDELIVERABLE,
    "UNDELIVERABLE": ReceiptState.UNDELIVERABLE,
    "ACCEPTD": ReceiptState.ACCEPTED,
    "ACCEPTED": ReceiptState.ACCEPTED,
    "UNKNOWN": ReceiptState.UNKNOWN,
    "REJECTD": ReceiptState.REJECTED,
    "REJECTED": ReceiptState.REJECTED,
    "ENROUTE": ReceiptState.ENROUTE,
}

# SMPP 3.4 section 5.2.28 message_state values
MESSAGE_STATES: dict[int, ReceiptState] = {
    1: ReceiptState.ENROUTE,
    2: ReceiptState.DELIVERED,
    3: ReceiptState.EXPIRED,
    4: ReceiptState.DELETED,
    5: ReceiptState.UNDELIVERABLE,
    6: ReceiptState.ACCEPTED,
    7: ReceiptState.UNKNOWN,
    8: ReceiptState.REJECTED,
}
STATE_STATS: dict[ReceiptState, str] = {
    ReceiptState.ENROUTE: "ENROUTE",
    ReceiptState.DELIVERED: "DELIVRD",
    ReceiptState.EXPIRED: "EXPIRED",
    ReceiptState.DELETED: "DELETED",
    ReceiptState.UNDELIVERABLE: "UNDELIV",
    ReceiptState.ACCEPTED: "ACCEPTD",
    ReceiptState.UNKNOWN: "UNKNOWN",
    ReceiptState.REJECTED: "REJECTD",
}
STATE_CODES: dict[ReceiptState, int] = {state: code for code, state in MESSAGE_STATES.items()}

_KEY = re.compile(r"(?i)(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):")
# the layout of SMPP 3.4 appendix B, which nearly every SMSC writes: one match
_STANDARD = re.compile(
    r"id:(\S+) sub:(\S*) dlvrd:(\S*) submit date:(\d*) done date:(\d*) "
    r"stat:(\S*) err:(\S*)(?: [Tt]ext:(.*))?\Z",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptText:
    """The fields of the SMPP 3.4 appendix B receipt text (values as written)."""

    id: str
    stat: str | None = None
    err: str | None = None
    sub: str | None = None
    dlvrd: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None


def parse_receipt_text(raw: bytes | str) -> ReceiptText | None:
    """Read 'id:... sub:... dlvrd:... submit date:... done date:... stat:... err:... text:...'.

    Keys are matched case-insensitively and in any order; returns None when
    there is no ``id:`` field.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    m = _STANDARD.match(text)
    if m is not None:
        ident, sub, dlvrd, submit_date, done_date, stat, err, rest = m.groups()
        return ReceiptText(
            id=ident,
            stat=stat or None,
            err=err or None,
            sub=sub,
            dlvrd=dlvrd,
            submit_date=submit_date,
            done_date=done_date,
            text=rest,
        )
    matches = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace(" ", "_")
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end() : end]
        fields.setdefault(key, value if key == "text" else value.strip())
    ident = fields.get("id")
    if not ident:
        return None
    return ReceiptText(
        id=ident.split()[0],
        stat=fields.get("stat") or None,
        err=fields.get("err") or None,
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        text=fields.get("text"),
    )


def format_receipt_text(
    *,
    ident: str,
    state: ReceiptState,
    err: int = 0,
    submit_date: str,
    done_date: str,
    text: str = "",
    segments: int = 1,
) -> bytes:
    """The receipt text an SMSC writes (the simulator, the SMPP server, tests)."""
    stat = STATE_STATS[state]
    dlvrd = f"{segments:03d}" if state is ReceiptState.DELIVERED else "000"
    return (
        f"id:{ident} sub:{segments:03d} dlvrd:{dlvrd} submit date:{submit_date} "
        f"done date:{done_date} stat:{stat} err:{err:03d} text:{text[:20]}"
    ).encode("latin-1")


@functools.lru_cache(maxsize=256)
def parse_smpp_date(value: str | None) -> float | None:
    """YYMMDDhhmm[ss] as written in receipts, read as UTC, to POSIX time."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        year, month, day = 2000 + int(value[0:2]), int(value[2:4]), int(value[4:6])
        hour, minute = int(value[6:8]), int(value[8:10])
        second = int(value[10:12]) if len(value) == 12 else 0
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
            return None
        return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    except ValueError:
        return None


class IdNormaliser:
    """Canonical message ids: ``as-is`` keeps the text; ``hex``/``decimal`` read a number.

    ``resp`` is the form of submit_sm_resp ids (and of the receipted_message_id
    TLV), ``text`` the form of the id in the receipt text. Numeric forms become
    the decimal string of the number, so '0001A2' (hex) and '418' (decimal)
    compare equal. An id that is not a number in the expected form is kept as is.
    """

    __slots__ = ("resp", "text")

    def __init__(self, *, resp: str = "as-is", text: str | None = None) -> None:
        for form in (resp, text if text is not None else resp):
            if form not in ID_FORMS:
                msg = f"message id form {form!r} is not one of {', '.join(ID_FORMS)}"
                raise ValueError(msg)
        self.resp = resp
        self.text = text if text is not None else resp

    @staticmethod
    def _norm(ident: str, form: str) -> str:
        ident = ident.strip()
        if form == "as-is":
            return ident
        try:
            return str(int(ident, 16 if form == "hex" else 10))
        except ValueError:
            return ident

    def from_resp(self, ident: str) -> str:
        return self._norm(ident, self.resp)

    def from_text(self, ident: str) -> str:
        return self._norm(ident, self.text)


def is_receipt(esm_class: int) -> bool:
    return (esm_class & RECEIPT_TYPE_MASK) in RECEIPT_TYPES


def _network_error(value: bytes | None) -> str | None:
    if not value or len(value) != 3:
        return None
    code = int.from_bytes(value[1:3], "big")
    return f"{value[0]}:{code}" if code else None


def receipt_from_pdu(pdu: ShortMessage | DataSm, *, link: str, ids: IdNormaliser) -> Receipt | None:
    """The :class:`Receipt` a deliver_sm/data_sm carries, or None if it carries none.

    TLVs (receipted_message_id, message_state, network_error_code) win over
    the text; the text fills what they leave out.
    """
    tlvs = pdu.tlvs
    tlv_id = tlv.get_str(tlvs, tlv.RECEIPTED_MESSAGE_ID)
    tlv_state = tlv.get_int(tlvs, tlv.MESSAGE_STATE)
    body = pdu.short_message if isinstance(pdu, ShortMessage) else b""
    if not body:
        body = tlv.find(tlvs, tlv.MESSAGE_PAYLOAD) or b""
    parsed: ReceiptText | None = None
    if body:
        m = _STANDARD.match(body.decode("latin-1"))
        if m is not None:  # the common layout: skip building a ReceiptText twice over
            ident, _, _, _, done_date, stat, err, _ = m.groups()
            parsed = ReceiptText(id=ident, stat=stat or None, err=err or None, done_date=done_date)
        else:
            parsed = parse_receipt_text(body)
    if tlv_id:
        smsc_id = ids.from_resp(tlv_id)
    elif parsed is not None:
        smsc_id = ids.from_text(parsed.id)
    else:
        return None
    state = ReceiptState.UNKNOWN
    if tlv_state is not None:
        state = MESSAGE_STATES.get(tlv_state, ReceiptState.UNKNOWN)
    elif parsed is not None and parsed.stat:
        state = STAT_STATES.get(parsed.stat.upper(), ReceiptState.UNKNOWN)
    error = _network_error(tlv.find(tlvs, tlv.NETWORK_ERROR_CODE))
    if error is None and parsed is not None and parsed.err and parsed.err.strip("0"):
        error = parsed.err
    done_at = parse_smpp_date(parsed.done_date) if parsed is not None else None
    return Receipt(
        link=link,
        smsc_id=smsc_id,
        state=state,
        error=error,
        done_at=done_at,
        destination=address_text(pdu.source_addr_ton, pdu.source_addr) or None,
    )
