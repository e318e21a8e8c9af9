"""One round of a link's answers applied to a :class:`~gateway.store.outcomes.Batch`.

A round is the outcomes of the segments sent since the last one and the
receipts that came meanwhile. :func:`accepted_in` and :func:`split_receipts`
find the receipts for segments the round itself accepts (applied with the
acceptance, :meth:`~gateway.store.outcomes.Batch.receipts_here`);
:func:`apply_outcomes` answers each message's segments, then moves the
message (rejected when a segment was, queued again for a retry, else what its
segments imply); :func:`apply_receipts` applies the receipts whose segments
the backend found. The rules of each change are the batch's
(:mod:`gateway.store.outcomes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.link.interface import Receipt
from gateway.model.message import MessageState, SegmentState
from gateway.model.outcomes import Accepted, Rejected, Retry
from gateway.model.records import OutcomeRecord
from gateway.store.outcomes import Batch, KeptReceipt, MessageRow, ReceiptKey

__all__ = ["accepted_in", "apply_outcomes", "apply_receipts", "split_receipts"]

_SEG_REJECTED = SegmentState.REJECTED.value
_MSG_REJECTED = MessageState.REJECTED.value
_QUEUED = MessageState.QUEUED.value
_DISPATCHING = MessageState.DISPATCHING.value


def accepted_in(outcomes: Sequence[OutcomeRecord]) -> dict[ReceiptKey, list[tuple[str, int]]]:
    """(link, smsc_id) -> [(message_id, index)...] of the segments the round accepts."""
    accepted: dict[ReceiptKey, list[tuple[str, int]]] = {}
    for o in outcomes:
        if isinstance(o.outcome, Accepted):
            accepted.setdefault((o.link, o.outcome.smsc_id), []).append((o.message_id, o.index))
    return accepted


def split_receipts(
    receipts: Sequence[Receipt], accepted: dict[ReceiptKey, list[tuple[str, int]]]
) -> tuple[dict[ReceiptKey, list[KeptReceipt]], list[Receipt]]:
    """The receipts for segments accepted in the same round (applied with the
    acceptance), and the others (looked up, or kept for an acceptance to come)."""
    with_outcome: dict[ReceiptKey, list[KeptReceipt]] = {}
    later = []
    for r in receipts:
        key = (r.link, r.smsc_id)
        if key in accepted:
            with_outcome.setdefault(key, []).append((r.state.value, r.error))
        else:
            later.append(r)
    return with_outcome, later


def apply_outcomes(batch: Batch, outcomes: Sequence[OutcomeRecord]) -> None:
    """Each message's segments answered, then the message's own move: rejected when a
    segment was, queued again for a retry, else what its segments imply."""
    touched: dict[str, list[OutcomeRecord]] = {}
    for o in outcomes:
        if o.message_id in batch.msgs:
            touched.setdefault(o.message_id, []).append(o)
    for mid, answered in touched.items():
        _answered(batch, batch.msgs[mid], answered)


def _answered(batch: Batch, msg: MessageRow, answered: Sequence[OutcomeRecord]) -> None:
    rejected: str | None = None
    retry: OutcomeRecord | None = None
    retry_reason = ""
    for o in answered:
        if not 0 <= o.index < len(msg.segments):
            continue
        match o.outcome:
            case Accepted(smsc_id=smsc_id):
                batch.accept(msg, o.index, o.link, smsc_id)
            case Rejected(reason=reason):
                batch.seg_to(msg.segments[o.index], _SEG_REJECTED, error=reason)
                rejected = reason
            case Retry(reason=reason):
                retry, retry_reason = o, reason
    if msg.state != _DISPATCHING:
        return  # a late answer (lease ran out): segments recorded, state kept
    if rejected is not None:
        batch.msg_to(msg, _MSG_REJECTED, error=rejected)
    elif retry is not None:
        msg.attempts += 1
        msg.next_attempt_at = retry.retry_at if retry.retry_at is not None else batch.now
        msg.requeued = True
        batch.msg_to(msg, _QUEUED, error=retry_reason)
    else:
        batch.derive(msg)


def apply_receipts(batch: Batch, found: Sequence[tuple[str, int, Receipt]]) -> None:
    """Receipts whose segments were found (message_id, index, receipt), then each
    message moved to what its segments imply."""
    for mid, index, r in found:
        batch.receipt(batch.msgs[mid], index, r.state.value, r.error)
    for mid in dict.fromkeys(f[0] for f in found):
        batch.derive(batch.msgs[mid])
