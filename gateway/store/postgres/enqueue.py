"""Enqueue on PostgreSQL: debit and insert, the rules being :mod:`gateway.store.admission`'s.

:func:`prepare_enqueue` makes ids, records and status events before the
transaction; :func:`enqueue` then runs inside it: the batch's accounts are
locked (``SELECT ... FOR UPDATE``, in name order so that two batches never
wait for each other in a circle), the messages already stored with the
batch's client_refs read after the locks (so a concurrent batch with the same
client_ref, committed meanwhile, is seen), the batch admitted in memory, and
the admitted messages, segments, debits and ``queued`` status events (and
webhook rows) inserted a few statements for the whole batch (arrays through
``unnest``), each account row updated once. Concurrent daemons debiting the
same account wait for each other on its row: none spends credit another one
already spent, nor passes the month's cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.accounting.ledger import AccountState
from gateway.model.records import Enqueued, EnqueueResult, Lease, NewMessage, Refused
from gateway.store.admission import KnownRefs, Prepared, admit, prepare
from gateway.store.esme_deliveries import origin_rows
from gateway.store.payloads import StatusEvents
from gateway.store.postgres.esme_deliveries import mark_origins
from gateway.store.postgres.events import write_status
from gateway.store.postgres.ledger import load_state, save_state
from gateway.store.postgres.queue import get_messages

_INSERT_MESSAGES = (
    "INSERT INTO messages (id, account, sender, sender_kind, destination, text, encoding, "
    "segments, price, credits, msg_class, send_at, validity, priority, client_ref, body_hash, "
    "callback_url, state, attempts, next_attempt_at, created_at, updated_at, lease_owner, "
    "lease_until) "
    "SELECT id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, 0, send_at, $20, $20, lease_owner, lease_until FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::int[], $9::bigint[], $10::bigint[], $11::text[], $12::float8[], $13::int[], "
    "$14::int[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $21::float8[]"
    ") AS m(id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, lease_owner, lease_until)"
)
_INSERT_SEGMENTS = (
    "INSERT INTO segments (message_id, idx, state, updated_at) "
    "SELECT m.id, i, 'pending', $3 FROM unnest($1::text[], $2::int[]) AS m(id, n), "
    "generate_series(0, m.n - 1) AS i"
)
_INSERT_DEBITS = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, message_id) "
    "SELECT account, $4, 'debit', amount, balance_after, message_id "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $5::text[]) "
    "AS d(account, amount, balance_after, message_id)"
)
_KNOWN_REFS = (
    "SELECT account, client_ref, destination, id, body_hash FROM messages "
    "WHERE (account, client_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)


class PreparedEnqueue:
    """:func:`prepare_enqueue`'s result: what :func:`enqueue` writes."""

    __slots__ = ("events", "items", "now")

    def __init__(self, now: float, items: list[Prepared], events: StatusEvents) -> None:
        self.now = now
        self.items = items
        self.events = events


def prepare_enqueue(
    batch: Sequence[NewMessage], now: float, *, outbox: bool = True, lease: Lease | None = None
) -> PreparedEnqueue:
    """Ids, records and status events of ``batch``, made outside the transaction."""
    events = StatusEvents(now, mqtt=outbox)
    return PreparedEnqueue(now, prepare(batch, now, events, lease=lease), events)


class _Source:
    """What admission reads: the batch's accounts and client_refs, loaded beforehand
    in this transaction (the accounts locked)."""

    def __init__(self, states: dict[str, AccountState], refs: dict[tuple[str, str], KnownRefs]):
        self.states = states
        self.refs = refs

    def account(self, name: str) -> AccountState:
        return self.states[name]

    def known_refs(self, account: str, client_ref: str) -> KnownRefs:
        return self.refs.get((account, client_ref), {})


async def _load(conn: Any, items: Sequence[Prepared]) -> _Source:
    states = {}
    for name in sorted({item.new.account for item in items}):
        states[name] = await load_state(conn, name)  # FOR UPDATE; NotFound if unknown
    pairs = sorted({(i.new.account, i.new.client_ref) for i in items if i.new.client_ref})
    refs: dict[tuple[str, str], KnownRefs] = {}
    if pairs:
        accounts, client_refs = zip(*pairs, strict=True)
        for r in await conn.fetch(_KNOWN_REFS, list(accounts), list(client_refs)):
            seen = refs.setdefault((r["account"], r["client_ref"]), {})
            seen[r["destination"]] = (r["id"], r["body_hash"])
    return _Source(states, refs)


async def enqueue(conn: Any, work: PreparedEnqueue) -> EnqueueResult:
    """Debit and insert ``work`` (:func:`prepare_enqueue`); each message is refused
    or written whole, the whole batch in the caller's transaction."""
    now = work.now
    source = await _load(conn, work.items)
    decided = admit(((item.new, item.message) for item in work.items), source, now)
    admitted = [work.items[i] for i in decided.admitted]
    events = work.events
    for item in admitted:
        events.take(item.event, item.hook)
    if admitted:
        await _insert(conn, admitted, decided.balances_after, now)
        await mark_origins(conn, origin_rows((item.new, item.message.id) for item in admitted))
    await write_status(conn, events)
    for st in source.states.values():
        await save_state(conn, st)
    before = {
        m.id: m
        for m in await get_messages(conn, [r for r in decided.results if isinstance(r, str)])
    }
    done: list[Enqueued | Refused] = [
        Enqueued(message=before[r], duplicate=True) if isinstance(r, str) else r
        for r in decided.results
    ]
    return EnqueueResult(results=tuple(done), crossings=tuple(decided.crossings))


async def _insert(
    conn: Any, admitted: Sequence[Prepared], balances: Sequence[int], now: float
) -> None:
    msgs = [item.message for item in admitted]
    news = [item.new for item in admitted]
    await conn.execute(
        _INSERT_MESSAGES,
        [m.id for m in msgs],
        [m.account for m in msgs],
        [m.sender for m in msgs],
        [m.sender_kind.value for m in msgs],
        [m.destination for m in msgs],
        [m.text for m in msgs],
        [m.encoding for m in msgs],
        [m.segments for m in msgs],
        [m.price for m in msgs],
        [m.credits for m in msgs],
        [m.msg_class.value for m in msgs],
        [m.send_at for m in msgs],
        [m.validity for m in msgs],
        [m.priority for m in msgs],
        [m.client_ref for m in msgs],
        [n.body_hash for n in news],
        [m.callback_url for m in msgs],
        [m.state.value for m in msgs],
        [m.lease_owner for m in msgs],
        now,
        [m.lease_until for m in msgs],
    )
    await conn.execute(_INSERT_SEGMENTS, [m.id for m in msgs], [m.segments for m in msgs], now)
    await conn.execute(
        _INSERT_DEBITS,
        [m.account for m in msgs],
        [-m.credits for m in msgs],
        list(balances),
        now,
        [m.id for m in msgs],
    )
