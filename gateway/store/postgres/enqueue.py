"""Enqueue on PostgreSQL: debit and insert, the rules being :mod:`gateway.store.admission`'s.

:func:`prepare_enqueue` makes ids, records and status events before the
transaction; :func:`enqueue_many` then runs several enqueue calls (the
daemon's group commit, gateway/store/postgres/grouping.py) in one
transaction: the accounts of every call are locked in one statement
(``FOR NO KEY UPDATE``, in name order so that two transactions never wait for
each other in a circle), the messages already stored with the calls'
client_refs read after the locks (so a concurrent transaction with the same
client_ref, committed meanwhile, is seen), each call admitted in memory in
turn with the same account states and known client_refs (so the calls of a
transaction spend one balance and one month's cap exactly as one after the
other would), and everything admitted written in one statement: messages,
segments, debits, the ``queued`` status events (one outbox row), webhook
rows and each account row once. A call naming an unknown account fails
alone (:class:`~gateway.model.errors.NotFound`); its messages are not
admitted, the other calls' are. Concurrent daemons debiting the same account
wait for each other on its row: none spends credit another one already
spent, nor passes the month's cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gateway.accounting.ledger import AccountState
from gateway.model.records import Enqueued, EnqueueResult, Lease, NewMessage, Refused
from gateway.store.accounts import unknown_account
from gateway.store.admission import KnownRefs, Prepared, admit, prepare
from gateway.store.esme_deliveries import origin_rows
from gateway.store.payloads import StatusEvents
from gateway.store.postgres.esme_deliveries import mark_origins
from gateway.store.postgres.queue import get_messages

_LOCK_ACCOUNTS = (
    "SELECT name, balance, credit_limit, monthly_cap, alert_below, month, month_spent, "
    "alert_armed FROM accounts WHERE name = ANY($1::text[]) ORDER BY name FOR NO KEY UPDATE"
)
_KNOWN_REFS = (
    "SELECT account, client_ref, destination, id, body_hash FROM messages "
    "WHERE (account, client_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
_STOPPED = (
    "SELECT account, number FROM stoplist "
    "WHERE (account, number) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
# everything a transaction of enqueues writes, in one statement (one round trip
# while the accounts are locked); the foreign keys are checked at its end
_WRITE = (
    "WITH m AS (INSERT INTO messages (id, account, sender, sender_kind, destination, text, "
    "encoding, segments, price, credits, msg_class, send_at, validity, priority, client_ref, "
    "body_hash, callback_url, state, attempts, next_attempt_at, created_at, updated_at, "
    "lease_owner, lease_until) "
    "SELECT id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, 0, send_at, created_at, created_at, lease_owner, lease_until FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::int[], $9::bigint[], $10::bigint[], $11::text[], $12::float8[], $13::int[], "
    "$14::int[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], "
    "$20::float8[], $21::float8[]"
    ") AS m(id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, lease_owner, created_at, lease_until)), "
    "s AS (INSERT INTO segments (message_id, idx, state, updated_at) "
    "SELECT m.id, i, 'pending', m.at FROM unnest($1::text[], $8::int[], $20::float8[]) "
    "AS m(id, n, at), generate_series(0, m.n - 1) AS i), "
    "d AS (INSERT INTO ledger (account, at, kind, amount, balance_after, message_id) "
    "SELECT account, at, 'debit', -credits, balance_after, id FROM unnest("
    "$1::text[], $2::text[], $10::bigint[], $22::bigint[], $20::float8[]) "
    "AS d(id, account, credits, balance_after, at)), "
    "o AS (INSERT INTO outbox (events, body, created_at) "
    "SELECT $23::int, $24::bytea, $25::float8 WHERE $23::int > 0), "
    "w AS (INSERT INTO webhooks (account, url, payload, attempts, next_at, state, created_at) "
    "SELECT account, url, payload, 0, next_at, 'pending', created_at FROM unnest("
    "$26::text[], $27::text[], $28::bytea[], $29::float8[], $30::float8[]) "
    "AS h(account, url, payload, next_at, created_at)) "
    "UPDATE accounts SET balance = a.balance, alert_armed = a.alert_armed, month = a.month, "
    "month_spent = a.month_spent FROM unnest($31::text[], $32::bigint[], $33::bool[], "
    "$34::text[], $35::bigint[]) AS a(name, balance, alert_armed, month, month_spent) "
    "WHERE accounts.name = a.name"
)


class PreparedEnqueue:
    """:func:`prepare_enqueue`'s result: what :func:`enqueue_many` writes."""

    __slots__ = ("events", "items", "now")

    def __init__(self, now: float, items: list[Prepared], events: StatusEvents) -> None:
        self.now = now
        self.items = items
        self.events = events

    def __len__(self) -> int:
        return len(self.items)


def prepare_enqueue(
    batch: Sequence[NewMessage], now: float, *, outbox: bool = True, lease: Lease | None = None
) -> PreparedEnqueue:
    """Ids, records and status events of ``batch``, made outside the transaction."""
    events = StatusEvents(now, mqtt=outbox)
    return PreparedEnqueue(now, prepare(batch, now, events, lease=lease), events)


class _Source:
    """What admission reads: the accounts and client_refs of every call, loaded
    beforehand in this transaction (the accounts locked), shared by the calls."""

    def __init__(
        self,
        states: dict[str, AccountState],
        refs: dict[tuple[str, str], KnownRefs],
        stops: set[tuple[str, str]],
    ):
        self.states = states
        self.refs = refs
        self.stops = stops  # (account, number) on a stoplist, of the calls' destinations

    def account(self, name: str) -> AccountState:
        return self.states[name]

    def known_refs(self, account: str, client_ref: str) -> KnownRefs:
        # the same dict for every call: a later call sees what an earlier one admitted
        return self.refs.setdefault((account, client_ref), {})

    def stopped(self, account: str, numbers: Sequence[str]) -> set[str]:
        return {n for n in numbers if (account, n) in self.stops}


async def _load(conn: Any, works: Sequence[PreparedEnqueue]) -> _Source:
    # the stoplist first, before the accounts' rows are locked (held until the commit)
    destinations = sorted({(i.new.account, i.new.destination) for w in works for i in w.items})
    stops: set[tuple[str, str]] = set()
    if destinations:
        accounts, numbers = zip(*destinations, strict=True)
        rows = await conn.fetch(_STOPPED, list(accounts), list(numbers))
        stops = {(r["account"], r["number"]) for r in rows}
    names = sorted({item.new.account for w in works for item in w.items})
    states = {
        r["name"]: AccountState(
            name=r["name"],
            balance=r["balance"],
            credit_limit=r["credit_limit"],
            monthly_cap=r["monthly_cap"],
            alert_below=r["alert_below"],
            month=r["month"],
            month_spent=r["month_spent"],
            alert_armed=r["alert_armed"],
        )
        for r in await conn.fetch(_LOCK_ACCOUNTS, names)
    }
    pairs = sorted(
        {(i.new.account, i.new.client_ref) for w in works for i in w.items if i.new.client_ref}
    )
    refs: dict[tuple[str, str], KnownRefs] = {}
    if pairs:
        accounts, client_refs = zip(*pairs, strict=True)
        for r in await conn.fetch(_KNOWN_REFS, list(accounts), list(client_refs)):
            seen = refs.setdefault((r["account"], r["client_ref"]), {})
            seen[r["destination"]] = (r["id"], r["body_hash"])
    return _Source(states, refs, stops)


class Written:
    """What the transaction writes, gathered over its calls."""

    def __init__(self) -> None:
        self.items: list[Prepared] = []
        self.balances: list[int] = []
        self.events: list[bytes] = []
        self.events_at: float | None = None
        self.hooks: list[tuple[str, str, bytes, float, float]] = []

    def take(self, work: PreparedEnqueue, admitted: Iterable[int], balances: Sequence[int]) -> None:
        """The admitted messages of ``work`` with their events (``work`` is left as it
        is: a call run again, alone, takes them again from the start)."""
        for i in admitted:
            item = work.items[i]
            self.items.append(item)
            if item.event is not None:
                if self.events_at is None:
                    self.events_at = work.now
                self.events.append(item.event)
            if item.hook is not None:
                self.hooks.append(item.hook)
        self.balances.extend(balances)


async def enqueue_many(
    conn: Any, works: Sequence[PreparedEnqueue]
) -> list[EnqueueResult | Exception]:
    """Debit and insert each of ``works`` (:func:`prepare_enqueue`), in the caller's
    transaction: per call its result, or the error that refused it whole (an unknown
    account); each message is refused or written whole."""
    source = await _load(conn, works)
    written = Written()
    decided: list[tuple[list[Enqueued | Refused | str], EnqueueResult] | Exception] = []
    for work in works:
        missing = sorted({i.new.account for i in work.items} - source.states.keys())
        if missing:
            decided.append(unknown_account(missing[0]))
            continue
        a = admit(((item.new, item.message) for item in work.items), source, work.now)
        written.take(work, a.admitted, a.balances_after)
        decided.append((a.results, EnqueueResult(results=(), crossings=tuple(a.crossings))))
    await _write(conn, written, source.states.values())
    repeated = [r for d in decided if not isinstance(d, Exception) for r in d[0]]
    before = {
        m.id: m for m in await get_messages(conn, [r for r in repeated if isinstance(r, str)])
    }
    out: list[EnqueueResult | Exception] = []
    for d in decided:
        if isinstance(d, Exception):
            out.append(d)
            continue
        results, partial = d
        done = tuple(
            Enqueued(message=before[r], duplicate=True) if isinstance(r, str) else r
            for r in results
        )
        out.append(EnqueueResult(results=done, crossings=partial.crossings))
    return out


async def enqueue(conn: Any, work: PreparedEnqueue) -> EnqueueResult:
    """One call of :func:`enqueue_many`: its result, or its error raised."""
    [result] = await enqueue_many(conn, [work])
    if isinstance(result, Exception):
        raise result
    return result


def message_columns(items: Sequence[Prepared]) -> list[list[Any]]:
    """The 21 arrays of the messages' columns ($1 to $21 of the write statements)."""
    msgs = [item.message for item in items]
    return [
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
        [item.new.body_hash for item in items],
        [m.callback_url for m in msgs],
        [m.state.value for m in msgs],
        [m.lease_owner for m in msgs],
        [m.created_at for m in msgs],
        [m.lease_until for m in msgs],
    ]


def event_columns(w: Written) -> list[Any]:
    """The outbox row's and the webhook rows' parameters (8 of them)."""
    hooks: list[Sequence[Any]] = list(zip(*w.hooks, strict=True)) if w.hooks else [[]] * 5
    return [
        len(w.events),
        b"".join(w.events),
        w.events_at if w.events_at is not None else 0.0,
        *hooks,
    ]


async def _write(conn: Any, w: Written, states: Any) -> None:
    sts: list[AccountState] = list(states)
    if not w.items and not sts:
        return  # every call named an unknown account
    await conn.execute(
        _WRITE,
        *message_columns(w.items),
        w.balances,
        *event_columns(w),
        [s.name for s in sts],
        [s.balance for s in sts],
        [s.alert_armed for s in sts],
        [s.month for s in sts],
        [s.month_spent for s in sts],
    )
    await mark_origins(conn, origin_rows((item.new, item.message.id) for item in w.items))
    raw = [(item.message.id, item.new.raw) for item in w.items if item.new.raw is not None]
    if raw:  # segments ESMEs cut themselves: few, and only from the SMPP server
        await conn.execute(
            "UPDATE messages AS m SET raw = u.raw "
            "FROM unnest($1::text[], $2::bytea[]) AS u(id, raw) WHERE m.id = u.id",
            *(list(c) for c in zip(*raw, strict=True)),
        )
