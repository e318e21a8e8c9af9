"""What every backend stores passes the worker wire's checks: a message a worker stored
leased reaches the daemon's dispatcher unchanged (gateway.runtime.wire)."""

from __future__ import annotations

import dataclasses

from gateway.model.records import Enqueued, Lease
from gateway.runtime.wire import Handoff, decode_from_worker, encode
from gateway.store.base import Store
from tests.gateway.store.support import make_account, new_message


async def test_a_stored_message_survives_the_handoff_line_unchanged(any_store: Store) -> None:
    await make_account(any_store)
    nm = dataclasses.replace(
        new_message(client_ref="r", body_hash="h"),
        validity=600,
        callback_url="https://app.example/h",
        text="é 😀",
    )
    result = await any_store.enqueue([nm], lease=Lease(worker="gw", seconds=300))
    [enqueued] = result.results
    assert isinstance(enqueued, Enqueued)
    handoff = Handoff(messages=(enqueued.message,))
    assert decode_from_worker(encode(handoff)) == handoff
    view = await any_store.get_message(enqueued.message.id)
    assert decode_from_worker(encode(Handoff(messages=(view.message,)))) == Handoff(
        messages=(view.message,)
    )
