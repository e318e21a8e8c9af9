"""The delivery receipts the simulated SMSC sends: a deliver_sm whose text is the
receipt of SMPP 3.4 appendix B, with the receipted_message_id and message_state
TLVs, dated in the simulator's wall time."""

from __future__ import annotations

import functools
import time

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import CommandId, encode_submit_sm
from drivers.smpp.protocol.receipts import STATE_CODES, format_receipt_text
from gateway.model.outcomes import ReceiptState

__all__ = ["RECEIPT_ESM", "receipt_deliver_sm"]

RECEIPT_ESM = 0x04  # esm_class: SMSC delivery receipt


@functools.lru_cache(maxsize=64)
def _minute(minute: int) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))


def _date(wall: float) -> str:
    return _minute(int(wall // 60))


def receipt_deliver_sm(
    seq: int,
    *,
    message_id: str,
    text_id: str,
    state: ReceiptState,
    err: int,
    source: tuple[int, int, str],
    destination: tuple[int, int, str],
    submitted: float,
    done_after: float,
) -> bytes:
    """The deliver_sm (sequence ``seq``) of a receipt for ``message_id``, whose text
    names ``text_id``; ``source`` and ``destination`` are (TON, NPI, address);
    submitted at wall time ``submitted``, done ``done_after`` seconds later."""
    return encode_submit_sm(
        seq,
        command_id=CommandId.DELIVER_SM,
        source_addr_ton=source[0],
        source_addr_npi=source[1],
        source_addr=source[2],
        dest_addr_ton=destination[0],
        dest_addr_npi=destination[1],
        destination_addr=destination[2],
        esm_class=RECEIPT_ESM,
        short_message=format_receipt_text(
            ident=text_id,
            state=state,
            err=err,
            submit_date=_date(submitted),
            done_date=_date(submitted + done_after),
        ),
        tlvs=tlv.encode_tlvs(
            (
                tlv.cstring(tlv.RECEIPTED_MESSAGE_ID, message_id),
                tlv.u8(tlv.MESSAGE_STATE, STATE_CODES[state]),
            )
        ),
    )
