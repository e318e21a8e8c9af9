"""The one table from a gateway refusal to the command_status an ESME gets.

README ("SMPP server", command_status table) lists the same rows; a test
checks that both agree. The first class in :data:`REFUSALS` that an error is
an instance of wins, so subclasses come before their bases. Anything else is
ESME_RSYSERR (and a log line on the server's side, never a traceback to the peer).
"""

from __future__ import annotations

from drivers.smpp.protocol import status as st
from gateway.model import errors as e
from gateway.model import esme_ingress as ei

# (refusal, command_status, what the README says of it)
REFUSALS: tuple[tuple[type[Exception], int, str], ...] = (
    (ei.UnknownSystemId, st.ESME_RINVSYSID, "bind: no credential has this system_id"),
    (ei.WrongPassword, st.ESME_RINVPASWD, "bind: wrong password"),
    (ei.AddressNotAllowed, st.ESME_RBINDFAIL, "bind: the address is not in the allow list"),
    (e.StoreUnavailable, st.ESME_RSYSERR, "the store cannot be reached (bind: ESME_RBINDFAIL)"),
    (ei.UnsupportedEsmClass, st.ESME_RINVESMCLASS, "esm_class with a message type (bits 2-5)"),
    (
        ei.UnsupportedDataCoding,
        st.ESME_RINVDCS,
        "data_coding not 0-4, 8 or a class value; class 1 or 3 for a whole text",
    ),
    (ei.BadSar, st.ESME_RINVOPTPARAMVAL, "SAR TLVs incomplete, out of range or with a concat UDH"),
    (ei.UnsupportedDestination, st.ESME_RINVDSTTON, "destination not TON 1 (international)"),
    (ei.BadSchedule, st.ESME_RINVSCHED, "schedule_delivery_time unreadable"),
    (ei.BadValidity, st.ESME_RINVEXPIRY, "validity_period unreadable, past or too long"),
    (ei.UnknownMessage, st.ESME_RINVMSGID, "query_sm/cancel_sm: no such message"),
    (e.NotCancellable, st.ESME_RCANCELFAIL, "cancel_sm: the message is no longer queued"),
    (e.InsufficientCredit, st.ESME_RSUBMITFAIL, "the account's credit does not cover it"),
    (e.MonthlyCapReached, st.ESME_RSUBMITFAIL, "the account's monthly cap is reached"),
    (e.NoPrice, st.ESME_RINVDSTADR, "no price for the destination"),
    (e.SenderNotAllowed, st.ESME_RINVSRCADR, "source_addr not an approved sender"),
    (e.InvalidSender, st.ESME_RINVSRCADR, "source_addr unreadable"),
    (e.InvalidRecipient, st.ESME_RINVDSTADR, "destination_addr not a valid E.164 number"),
    (e.EmptyText, st.ESME_RINVMSGLEN, "empty text"),
    (e.CodecError, st.ESME_RINVMSGLEN, "text too long or not encodable; a bad raw segment"),
    (ei.BadPriority, st.ESME_RINVPRTFLG, "priority_flag above 3"),
    (e.OutOfRange, st.ESME_RINVSCHED, "schedule_delivery_time too far ahead or behind"),
    (e.NotFound, st.ESME_RSUBMITFAIL, "the credential's account is gone"),
    (e.UserError, st.ESME_RSUBMITFAIL, "any other refusal of the send pipeline"),
)


def status_for(error: BaseException) -> int:
    """The command_status of a refusal; ESME_RSYSERR for anything unexpected."""
    for kind, status, _ in REFUSALS:
        if isinstance(error, kind):
            return status
    return st.ESME_RSYSERR


def bind_status_for(error: BaseException) -> int:
    """A refused bind's command_status: a store that is down is ESME_RBINDFAIL."""
    status = status_for(error)
    return st.ESME_RBINDFAIL if status == st.ESME_RSYSERR else status
