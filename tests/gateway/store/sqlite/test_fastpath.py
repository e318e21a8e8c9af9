"""The fast path of Store.record leaves the store exactly as the general path does.

Two stores start alike; random rounds of outcomes and receipts (acceptances,
refusals, retries, receipts of every state, receipts before their
acceptance, duplicates, several segments, payload mode's shared ids) go to
both: one through ``record`` (fast path, then the general one for the rest),
the other through the general path alone. Every table, every status event and
every state change reported must be the same.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.link.interface import Receipt
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Lease, NewMessage, OutcomeRecord, QueueChanges
from gateway.store import admission
from gateway.store.payloads import unpack_events
from gateway.store.sqlite import admin, dispatch, enqueue, fastpath, ledger
from gateway.store.sqlite.connect import connect
from gateway.store.sqlite.schema import migrate

NOW = 1_800_000_000.0
TABLES = ("messages", "segments", "ledger", "pending_receipts")


def _store(path: Path) -> sqlite3.Connection:
    conn = connect(str(path), synchronous="normal")
    migrate(conn, path=str(path))
    conn.execute("BEGIN IMMEDIATE")
    admin.create_account(conn, "acme", NOW)
    ledger.topup(conn, "acme", 100_000, reference="t", note=None, now=NOW)
    conn.execute("COMMIT")
    return conn


def _messages(rng: random.Random, count: int) -> list[NewMessage]:
    return [
        NewMessage(
            account="acme",
            sender="ACME",
            sender_kind=SenderKind.ALPHA,
            destination=f"+336123{i:05d}",
            text="x" * (160 * s),
            encoding="gsm7",
            segments=s,
            price=1,
            client_ref=f"r{i}" if i % 3 else None,
            body_hash="h",
            callback_url="https://app.example/h" if i % 4 else None,
        )
        for i, s in ((i, rng.choice((1, 1, 1, 2, 3))) for i in range(count))
    ]


def _rounds(
    rng: random.Random, ids: list[tuple[str, int]]
) -> list[tuple[list[OutcomeRecord], list[Receipt]]]:
    """Random rounds: each segment answered (mostly accepted), receipts after (or
    before) their acceptance, some twice, some for ids nobody sent."""
    smsc: dict[tuple[str, int], str] = {}
    rounds: list[tuple[list[OutcomeRecord], list[Receipt]]] = []
    pending_receipts: list[Receipt] = []
    fresh = list(ids)
    rng.shuffle(fresh)
    for _ in range(6):
        # mostly messages not answered yet, now and then one answered before
        chosen = [fresh.pop() for _ in range(min(len(fresh), 10))]
        chosen += rng.sample(ids, k=2)
        outcomes = _answers(rng, chosen, smsc)
        if rng.random() < 0.3 and outcomes:
            outcomes.append(rng.choice(outcomes))  # a duplicate answer
        receipts, pending_receipts = _receipts(rng, smsc, outcomes, pending_receipts)
        rounds.append((outcomes, receipts))
    return rounds


_LINK = "op-a"  # the link of every answer and receipt of _rounds


def _answers(
    rng: random.Random, chosen: list[tuple[str, int]], smsc: dict[tuple[str, int], str]
) -> list[OutcomeRecord]:
    """An answer per segment of the ``chosen`` messages; the SMSC ids of those
    accepted go into ``smsc``."""
    outcomes: list[OutcomeRecord] = []
    for mid, segments in chosen:
        payload = rng.random() < 0.15  # one PDU, one id, for every segment
        shared = f"{mid}-p"
        for index in range(segments):
            roll = rng.random()
            if roll < 0.8:
                sid = shared if payload else f"{mid}-{index}-{rng.randrange(2)}"
                smsc[(mid, index)] = sid
                outcome: Accepted | Rejected | Retry = Accepted(smsc_id=sid)
            elif roll < 0.9:
                outcome = Rejected(reason="ESME_RINVDSTADR", status=11)
            else:
                outcome = Retry(reason="ESME_RSYSERR", status=8)
            outcomes.append(
                OutcomeRecord(
                    message_id=mid,
                    index=index,
                    link=_LINK,
                    outcome=outcome,
                    retry_at=NOW + 60 if isinstance(outcome, Retry) else None,
                )
            )
    return outcomes


def _receipts(
    rng: random.Random,
    smsc: dict[tuple[str, int], str],
    outcomes: list[OutcomeRecord],
    pending: list[Receipt],
) -> tuple[list[Receipt], list[Receipt]]:
    """A round's receipts (``pending`` first) and those to send again next round."""
    receipts = list(pending)
    again = []
    known = sorted(set(smsc.values()))
    for sid in rng.sample(known, k=min(len(known), 12)):
        state = rng.choice([ReceiptState.DELIVERED] * 6 + list(ReceiptState))
        receipt = Receipt(
            link=_LINK, smsc_id=sid, state=state, error=rng.choice((None, "000", "034"))
        )
        if rng.random() < 0.2:
            again.append(receipt)  # next round too: a duplicate
        receipts.append(receipt)
    for o in outcomes:  # a receipt that overtakes its acceptance, now and then
        if isinstance(o.outcome, Accepted) and rng.random() < 0.1:
            receipts.insert(
                0, Receipt(link=_LINK, smsc_id=o.outcome.smsc_id, state=ReceiptState.DELIVERED)
            )
    if rng.random() < 0.2:
        receipts.append(Receipt(link=_LINK, smsc_id="nobody", state=ReceiptState.DELIVERED))
    return receipts, again


def _dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    out = {
        t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
        for t in TABLES
    }
    events = [
        e
        for (body,) in conn.execute("SELECT body FROM outbox ORDER BY id")
        for e in unpack_events(bytes(body))
    ]
    out["events"] = sorted(events, key=repr)
    out["accounts"] = conn.execute("SELECT name, balance, month_spent FROM accounts").fetchall()
    out["webhooks"] = sorted(conn.execute("SELECT account, url, payload FROM webhooks"), key=repr)
    return out


def _changes(changes: QueueChanges) -> list[tuple[object, ...]]:
    return sorted((c.message_id, c.account, c.old, c.new, c.at) for c in changes.changes)


@pytest.mark.parametrize("seed", range(40))
def test_fast_and_general_paths_leave_the_same_store(
    tmp_path: Path,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(seed)
    fast_changes: list[int] = []
    real = fastpath.record_fast

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        fast_changes.append(len(result.changes))
        return result

    monkeypatch.setattr(dispatch, "record_fast", counted)
    # ids from the seed too, so that a failure shows again with the same seed
    ids_rng = random.Random(seed)
    monkeypatch.setattr(
        admission,
        "new_ids",
        lambda now, count: [f"01M{ids_rng.getrandbits(100):023X}" for _ in range(count)],
    )
    both = _store(tmp_path / "fast.db"), _store(tmp_path / "general.db")
    batch = _messages(rng, 60)
    for conn in both:
        conn.execute("BEGIN IMMEDIATE")
        enqueue.enqueue(conn, batch, NOW, lease=Lease(worker="w", seconds=300))
        conn.execute("COMMIT")
    # the same ids in both (ids are random): copy the first store's messages over
    ids = [r[0] for r in both[0].execute("SELECT id FROM messages ORDER BY destination")]
    others = [r[0] for r in both[1].execute("SELECT id FROM messages ORDER BY destination")]
    for conn, mine in ((both[1], others),):
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        for old, new in zip(mine, ids, strict=True):
            for table, column in (
                ("messages", "id"),
                ("segments", "message_id"),
                ("ledger", "message_id"),
            ):
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?",  # noqa: S608
                    (new, old),
                )
        for store in both:  # the queued events name the old ids: not compared
            store.execute("DELETE FROM outbox")
            store.execute("DELETE FROM webhooks")
        conn.execute("COMMIT")
        conn.execute("PRAGMA foreign_keys = ON")
    segments = dict(both[0].execute("SELECT id, segments FROM messages"))
    for outcomes, receipts in _rounds(rng, [(i, segments[i]) for i in ids]):
        fast_conn, general_conn = both
        fast_conn.execute("BEGIN IMMEDIATE")
        fast = dispatch.record(fast_conn, outcomes, receipts, NOW)
        fast_conn.execute("COMMIT")
        general_conn.execute("BEGIN IMMEDIATE")
        general = dispatch.record_general(general_conn, outcomes, receipts, NOW)
        general_conn.execute("COMMIT")
        assert _changes(fast) == _changes(general)
        assert fast.unmatched_receipts == general.unmatched_receipts
        assert len(fast.refunds) == len(general.refunds)
    assert _dump(both[0]) == _dump(both[1])
    # the fast path did part of the work, the general path the rest
    assert sum(fast_changes) >= 5, fast_changes
    delivered = both[0].execute("SELECT count(*) FROM messages WHERE state = 'delivered'")
    assert delivered.fetchone()[0] > 0
    for conn in both:
        conn.close()
