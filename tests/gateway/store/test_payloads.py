"""The outbox row's body and the acknowledgements' id runs (gateway/store/payloads.py)."""

from __future__ import annotations

from gateway.store.payloads import id_runs, pack_event, unpack_events


def test_packed_events_keep_any_account_name_and_payload() -> None:
    events = [
        ("status", "acme", b'{"a":1}'),
        ("rejected", "a b\n/é", b""),
        ("inbound", "x" * 300, b"\x00" * 70_000),
    ]
    body = b"".join(pack_event(*e) for e in events)
    assert unpack_events(body) == events


def test_id_runs_merges_consecutive_ids_only() -> None:
    assert id_runs([]) == []
    assert id_runs([7]) == [(7, 7)]
    assert id_runs([5, 3, 4, 4, 9, 11, 10, 1]) == [(1, 1), (3, 5), (9, 11)]
