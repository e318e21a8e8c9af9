"""The worker protocol's record answer keeps what the daemon's metrics need."""

from __future__ import annotations

import json

from gateway.model.message import MessageState
from gateway.model.records import QueueChanges, StateChange
from gateway.runtime.worker_records import changes_from, changes_list


def test_changes_keep_final_states_and_unmatched_late_and_dropped_receipts() -> None:
    changes = QueueChanges(
        changes=(
            StateChange(
                message_id="m1",
                account="acme",
                old=MessageState.SUBMITTED,
                new=MessageState.DELIVERED,
                at=1.0,
            ),
            StateChange(
                message_id="m2",
                account="acme",
                old=MessageState.DISPATCHING,
                new=MessageState.SUBMITTED,
                at=1.0,
            ),
        ),
        unmatched=(("op-a", "delivered"),),
        matched_late=(("op-a", "undeliverable"),),
        dropped=(("op-b", "overflow"),),
    )
    back = changes_from(json.loads(json.dumps(changes_list(changes))))
    assert back.changes == changes.changes[:1]  # the final ones
    assert (back.unmatched, back.matched_late, back.dropped) == (
        changes.unmatched,
        changes.matched_late,
        changes.dropped,
    )
