"""The worker protocol's lists: a handed-over message unchanged, the record answer
keeping what the daemon's metrics need."""

from __future__ import annotations

import dataclasses
import json

from gateway.model.message import MessageState
from gateway.model.records import Enqueued, Lease, QueueChanges, StateChange
from gateway.runtime.worker_records import changes_from, changes_list, message_from, message_list
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import make_account, new_message


async def test_a_message_survives_the_handoff_line_unchanged(store: SqliteStore) -> None:
    await make_account(store)
    nm = dataclasses.replace(
        new_message(client_ref="r", body_hash="h"),
        validity=600,
        callback_url="https://app.example/h",
        text="é 😀",
    )
    result = await store.enqueue([nm], lease=Lease(worker="gw", seconds=300))
    [enqueued] = result.results
    assert isinstance(enqueued, Enqueued)
    line = json.dumps(["handoff", [message_list(enqueued.message)]])  # what a worker sends
    [values] = json.loads(line)[1]
    assert message_from(values) == enqueued.message
    assert message_from(values) == (await store.get_message(enqueued.message.id)).message


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
