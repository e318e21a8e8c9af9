"""The common enqueue on PostgreSQL in one statement, committed alone: the account's
row is locked only while the server runs it, not across round trips to the daemon.

The general path (gateway/store/postgres/enqueue.py) locks the accounts, reads
them, admits in the daemon, writes, then commits: the row stays locked for
three round trips to a busy daemon, and every other daemon's enqueue on that
account waits meanwhile. Most enqueues are the simple case: one account, no
``client_ref``, credit and cap to spare, no low-balance alert to raise. For
those the daemon sends one statement, outside any transaction, that debits
the account only if the row, read under its lock by that ``UPDATE`` (the
latest version, whichever daemon wrote it), lets every message through: the
balance stays above ``-credit_limit`` after all of them, the month's spending
(counted from zero in a new month) within the cap, the balance at or above
``alert_below``, and no destination on the account's stoplist. Exactly then
the general path, one message after the other, would admit every message,
raise no alert, arm it again (when there is one) and roll the month the same
way; the statement writes what it would (messages, segments, debits with their
balances after, the status events and webhook rows). Otherwise the statement
changes nothing and the calls take the general path, which decides each
message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.isotime import month_of
from gateway.model.records import Enqueued, EnqueueResult
from gateway.store.postgres.enqueue import PreparedEnqueue, Written, event_columns, message_columns

# $1-$21 the messages' columns (enqueue.message_columns), $22-$29 the events
# (enqueue.event_columns), $30 the account, $31 the credits of all, $32 the month
_DEBIT_ALL = (
    "WITH acc AS (UPDATE accounts AS a SET balance = a.balance - $31::bigint, "
    "month = $32::text, month_spent = CASE WHEN a.month = $32::text THEN a.month_spent "
    "ELSE 0 END + $31::bigint, alert_armed = a.alert_armed OR a.alert_below IS NOT NULL "
    "WHERE a.name = $30::text AND a.balance - $31::bigint >= -a.credit_limit "
    "AND (a.monthly_cap IS NULL OR CASE WHEN a.month = $32::text THEN a.month_spent ELSE 0 END "
    "+ $31::bigint <= a.monthly_cap) "
    "AND (a.alert_below IS NULL OR a.balance - $31::bigint >= a.alert_below) "
    "AND NOT EXISTS (SELECT 1 FROM stoplist AS st WHERE st.account = $30::text "
    "AND st.number = ANY($5::text[])) "
    "RETURNING a.balance + $31::bigint AS before), "
    "m AS (INSERT INTO messages (id, account, sender, sender_kind, destination, text, "
    "encoding, segments, price, credits, msg_class, send_at, validity, priority, client_ref, "
    "body_hash, callback_url, state, attempts, next_attempt_at, created_at, updated_at, "
    "lease_owner, lease_until) "
    "SELECT id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, 0, send_at, created_at, created_at, lease_owner, lease_until FROM acc, unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::int[], $9::bigint[], $10::bigint[], $11::text[], $12::float8[], $13::int[], "
    "$14::int[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], "
    "$20::float8[], $21::float8[]"
    ") AS m(id, account, sender, sender_kind, destination, text, encoding, segments, price, "
    "credits, msg_class, send_at, validity, priority, client_ref, body_hash, callback_url, "
    "state, lease_owner, created_at, lease_until)), "
    "s AS (INSERT INTO segments (message_id, idx, state, updated_at) "
    "SELECT m.id, i, 'pending', m.at FROM acc, unnest($1::text[], $8::int[], $20::float8[]) "
    "AS m(id, n, at), generate_series(0, m.n - 1) AS i), "
    "d AS (INSERT INTO ledger (account, at, kind, amount, balance_after, message_id) "
    "SELECT $30::text, d.at, 'debit', -d.credits, "
    "acc.before - sum(d.credits) OVER (ORDER BY d.ord), d.id FROM acc, unnest("
    "$1::text[], $10::bigint[], $20::float8[]) WITH ORDINALITY AS d(id, credits, at, ord)), "
    "o AS (INSERT INTO outbox (events, body, created_at) "
    "SELECT $22::int, $23::bytea, $24::float8 FROM acc WHERE $22::int > 0), "
    "w AS (INSERT INTO webhooks (account, url, payload, attempts, next_at, state, created_at) "
    "SELECT account, url, payload, 0, next_at, 'pending', created_at FROM acc, unnest("
    "$25::text[], $26::text[], $27::bytea[], $28::float8[], $29::float8[]) "
    "AS h(account, url, payload, next_at, created_at)) "
    "SELECT before FROM acc"
)


def simple(works: Sequence[PreparedEnqueue]) -> bool:
    """Whether the calls may try the one statement: messages of one account, none with
    a ``client_ref`` (those are read after the lock) nor from an ESME (its origin and a
    segment it cut itself are written by the general path), all in one calendar month."""
    accounts = {item.new.account for w in works for item in w.items}
    if len(accounts) != 1:
        return False
    if any(
        item.new.client_ref is not None or item.new.origin is not None or item.new.raw is not None
        for w in works
        for item in w.items
    ):
        return False
    return len({month_of(w.now) for w in works}) == 1


async def enqueue_simple(
    conn: Any, works: Sequence[PreparedEnqueue]
) -> list[EnqueueResult | Exception] | None:
    """Every message of ``works`` (:func:`simple`) debited and written in one statement
    on ``conn`` (outside a transaction); None when the account's row does not let them
    all through as they are (nothing written: the general path decides)."""
    written = Written()
    for work in works:
        written.take(work, range(len(work.items)), [])
    [first] = {item.new.account for item in written.items}
    before = await conn.fetchval(
        _DEBIT_ALL,
        *message_columns(written.items),
        *event_columns(written),
        first,
        sum(item.message.credits for item in written.items),
        month_of(works[0].now),
    )
    if before is None:
        return None  # the general path takes the calls from the start
    return [
        EnqueueResult(results=tuple(Enqueued(message=item.message) for item in w.items))
        for w in works
    ]
