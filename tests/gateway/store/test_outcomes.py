"""How a message's state follows from its segments' (gateway/store/outcomes.py)."""

from __future__ import annotations

import pytest

from gateway.model.message import MessageState, SegmentState
from gateway.store.outcomes import aggregate

_S = SegmentState
_M = MessageState


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([_S.PENDING, _S.ACCEPTED], None),
        ([_S.ACCEPTED, _S.DELIVERED], _M.SUBMITTED),
        ([_S.DELIVERED, _S.DELIVERED], _M.DELIVERED),
        ([_S.DELIVERED, _S.EXPIRED], _M.EXPIRED),
        ([_S.EXPIRED, _S.UNDELIVERABLE], _M.UNDELIVERABLE),
        ([_S.REJECTED, _S.EXPIRED], _M.REJECTED),
        ([_S.FAILED, _S.DELIVERED], _M.FAILED),
    ],
)
def test_aggregate_rule(states: list[SegmentState], expected: MessageState | None) -> None:
    assert aggregate(states) is expected
