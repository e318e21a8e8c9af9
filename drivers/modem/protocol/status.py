"""What modem answers mean: +CMS/+CME ERROR classification and TP-ST mapping.

Tables shared by the driver and the tests (the aiosmtpd habit):

- +CMS ERROR <err> (3GPP TS 27.005 3.2.5): 0-127 are RP-cause values of TS 24.011
  E.2 (mobile originating), 128-255 TP-FCS values of TS 23.040 9.2.3.22,
  300-340 errors of the ME/TA, 500 unknown, 512+ manufacturer specific.
- +CME ERROR <err> (TS 27.007 9.2): SIM and network state.
- TP-ST (TS 23.040 9.2.3.15): the state a status report gives.
"""

from __future__ import annotations

import enum

from gateway.model.outcomes import ReceiptState


class ErrorKind(enum.Enum):
    """What to do about a failed command."""

    RETRY = "retry"  # transient: the same segment may succeed later (here or elsewhere)
    PERMANENT = "permanent"  # the segment itself is refused: do not resend it
    LINK_DOWN = "link_down"  # the modem cannot send at all until someone acts (SIM, PIN)


# RP-cause (TS 24.011 E.2) values that describe a transient network state
_RP_TRANSIENT = frozenset(
    {
        17,  # network failure
        22,  # congestion (MO) / memory capacity exceeded
        27,  # destination out of order
        38,  # network out of order
        41,  # temporary failure
        42,  # congestion
        47,  # resources unavailable, unspecified
        98,  # message not compatible with short message protocol state
        111,  # protocol error, unspecified
        127,  # interworking, unspecified
    }
)
# every other RP-cause is about the message or the subscription: 1 unassigned
# number, 8 operator determined barring, 10 call barred, 21 short message
# transfer rejected, 28 unidentified subscriber, 29 facility rejected, 30 unknown
# subscriber, 50 facility not subscribed, 69 facility not implemented, 81 invalid
# transfer reference, 95 semantically incorrect, 96 invalid mandatory information,
# 97 message type non-existent, 99 IE non-existent

# TP-FCS (TS 23.040 9.2.3.22) values worth another try
_FCS_TRANSIENT = frozenset(
    {
        0xC0,  # SC busy
        0xC2,  # SC system failure
        0xD4,  # (U)SIM application toolkit busy
        0xFF,  # unspecified error cause
    }
)

# +CMS ERROR 300-500 (TS 27.005 3.2.5)
_CMS_ME: dict[int, ErrorKind] = {
    300: ErrorKind.RETRY,  # ME failure
    301: ErrorKind.RETRY,  # SMS service of ME reserved
    302: ErrorKind.RETRY,  # operation not allowed (often: not registered yet)
    303: ErrorKind.PERMANENT,  # operation not supported
    304: ErrorKind.PERMANENT,  # invalid PDU mode parameter (our PDU is wrong)
    305: ErrorKind.PERMANENT,  # invalid text mode parameter
    310: ErrorKind.LINK_DOWN,  # (U)SIM not inserted
    311: ErrorKind.LINK_DOWN,  # (U)SIM PIN required
    312: ErrorKind.LINK_DOWN,  # PH-(U)SIM PIN required
    313: ErrorKind.RETRY,  # (U)SIM failure
    314: ErrorKind.RETRY,  # (U)SIM busy
    315: ErrorKind.LINK_DOWN,  # (U)SIM wrong
    316: ErrorKind.LINK_DOWN,  # (U)SIM PUK required
    317: ErrorKind.LINK_DOWN,  # (U)SIM PIN2 required
    318: ErrorKind.LINK_DOWN,  # (U)SIM PUK2 required
    320: ErrorKind.RETRY,  # memory failure
    321: ErrorKind.PERMANENT,  # invalid memory index
    322: ErrorKind.RETRY,  # memory full
    330: ErrorKind.RETRY,  # SMSC address unknown (SIM not read yet, or misconfigured)
    331: ErrorKind.RETRY,  # no network service
    332: ErrorKind.RETRY,  # network timeout
    340: ErrorKind.PERMANENT,  # no +CNMA acknowledgement expected
    500: ErrorKind.RETRY,  # unknown error
}


def classify_cms(code: int) -> ErrorKind:
    """What a ``+CMS ERROR: code`` answer to AT+CMGS means for the segment."""
    if 0 <= code <= 127:
        return ErrorKind.RETRY if code in _RP_TRANSIENT else ErrorKind.PERMANENT
    if 128 <= code <= 255:
        return ErrorKind.RETRY if code in _FCS_TRANSIENT else ErrorKind.PERMANENT
    if code in _CMS_ME:
        return _CMS_ME[code]
    # 256-299 and 341-499 are reserved; 512+ manufacturer specific (often
    # "lower layer failure"): a transient failure is the safer guess
    return ErrorKind.RETRY


# +CME ERROR (TS 27.007 9.2)
_CME: dict[int, ErrorKind] = {
    3: ErrorKind.RETRY,  # operation not allowed
    4: ErrorKind.PERMANENT,  # operation not supported
    5: ErrorKind.LINK_DOWN,  # PH-SIM PIN required
    10: ErrorKind.LINK_DOWN,  # SIM not inserted
    11: ErrorKind.LINK_DOWN,  # SIM PIN required
    12: ErrorKind.LINK_DOWN,  # SIM PUK required
    13: ErrorKind.RETRY,  # SIM failure
    14: ErrorKind.RETRY,  # SIM busy
    15: ErrorKind.LINK_DOWN,  # SIM wrong
    16: ErrorKind.LINK_DOWN,  # incorrect password: never retry a wrong PIN
    17: ErrorKind.LINK_DOWN,  # SIM PIN2 required
    18: ErrorKind.LINK_DOWN,  # SIM PUK2 required
    30: ErrorKind.RETRY,  # no network service
    31: ErrorKind.RETRY,  # network timeout
    32: ErrorKind.RETRY,  # network not allowed, emergency calls only
    100: ErrorKind.RETRY,  # unknown
}


def classify_cme(code: int) -> ErrorKind:
    """What a ``+CME ERROR: code`` answer means."""
    return _CME.get(code, ErrorKind.RETRY)


def receipt_state(status: int) -> ReceiptState:
    """TP-ST (TS 23.040 9.2.3.15) as a receipt state.

    0x00-0x1F transaction completed: 0x00 received by the SME, 0x01 forwarded
    but delivery unconfirmed and 0x02 replaced are treated as delivered; other
    values in the range are reserved/SC-specific completions, also delivered.
    0x20-0x3F temporary error, SC still trying: en route. 0x40-0x7F permanent
    error or temporary error with no more tries: undeliverable, except 0x46
    (SM validity period expired) -> expired and 0x47/0x48 (deleted by the
    originating SME / by the SC administration) -> deleted.
    """
    if 0x00 <= status <= 0x1F:
        return ReceiptState.DELIVERED
    if 0x20 <= status <= 0x3F:
        return ReceiptState.ENROUTE
    if status == 0x46:  # SM validity period expired
        return ReceiptState.EXPIRED
    if status in (0x47, 0x48):
        return ReceiptState.DELETED
    if 0x40 <= status <= 0x7F:
        return ReceiptState.UNDELIVERABLE
    return ReceiptState.UNKNOWN
