"""psycopg 3 (async, psycopg_pool) against asyncpg on smsgw's hot store writes.

Run: .venv/bin/python benchmarks/postgres_drivers.py [--messages N] [--rounds R]
     [--concurrency C] [--accounts A] [--no-durable]

Starts a private PostgreSQL server on 127.0.0.1 (tests/fixtures/postgres.py's
``running_server``; never the system server) with fsync, synchronous_commit
and full_page_writes on (``--no-durable``: off, as the tests run it), and
builds, for each driver and round, a fresh database with tables shaped like
smsgw's hot ones (gateway/store/sqlite/schema.py: accounts with a balance,
messages, segments, the ledger journal). Both drivers run the same SQL in
real transactions, through their pools (psycopg_pool.AsyncConnectionPool,
asyncpg.create_pool) of C connections:

1. enqueue, one single-recipient message per transaction, C tasks: lock the
   account row (SELECT ... FOR UPDATE), check the balance, insert the message,
   its segment and a ledger journal row, update the balance; statement by
   statement, then each driver's fastest way (psycopg: the writes after the
   lock in one pipeline with the COMMIT; asyncpg has no pipeline for distinct
   statements, so the same as before);
2. enqueue, 100 messages per transaction, C tasks: executemany (psycopg: the
   three executemany and the COMMIT in one pipeline);
3. claim: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT
   500) RETURNING ...`` by 2 concurrent claimers until the queue is empty,
   checking that no message is claimed twice and none is missed;
4. record outcomes, 500 messages per transaction, 2 writers (a dispatcher's
   outcome writers): segment rows by (message id, index) and the messages'
   states, with executemany (psycopg: both in one pipeline with the COMMIT),
   then with one UPDATE ... FROM unnest(arrays) per table (the same SQL).

Figures per phase: messages/s of each driver over all rounds, the ratio
asyncpg/psycopg, and CPU per message of this process (the gateway's side:
resource.getrusage) and of the PostgreSQL server's processes (/proc). The
drivers alternate within each round (psycopg, asyncpg, psycopg, asyncpg...),
so machine noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import asyncpg
import psycopg
import psycopg_pool
from psycopg.rows import TupleRow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_system import tree_cpu
from tests.fixtures.postgres import (
    MISSING_BINARIES,
    NoServerUser,
    PostgresServer,
    find_bindir,
    running_server,
    workspace,
)

BATCH = 100  # messages per enqueue transaction (phase 2)
CLAIM = 500  # messages per claim and per outcome transaction
CLAIMERS = 2
WRITERS = 2
PRICE = 1
START_BALANCE = 10**12
MAX_ACCOUNTS = 1000
# every database gets MAX_ACCOUNTS accounts of START_BALANCE; --accounts of them are used
CREATE_ACCOUNTS = (
    "INSERT INTO accounts (name, balance, created_at)"
    " SELECT 'acct' || lpad(n::text, 3, '0'), 1000000000000, 0 FROM generate_series(0, 999) AS n"
)
LINK = "smsc1"

SCHEMA = """
CREATE TABLE accounts (
    name         text PRIMARY KEY,
    balance      bigint NOT NULL DEFAULT 0,
    credit_limit bigint NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    created_at   double precision NOT NULL,
    CHECK (balance >= -credit_limit)
);
CREATE TABLE messages (
    id              text PRIMARY KEY,
    account         text NOT NULL REFERENCES accounts(name),
    sender          text NOT NULL,
    sender_kind     text NOT NULL,
    destination     text NOT NULL,
    text            text NOT NULL,
    encoding        text NOT NULL,
    segments        integer NOT NULL,
    price           bigint NOT NULL,
    credits         bigint NOT NULL,
    msg_class       text NOT NULL,
    send_at         double precision NOT NULL,
    priority        integer NOT NULL DEFAULT 0,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    lease_owner     text,
    lease_until     double precision,
    error           text
);
CREATE INDEX messages_account ON messages(account, id);
CREATE INDEX messages_due ON messages(priority DESC, id, next_attempt_at) WHERE state = 'queued';
CREATE INDEX messages_leased ON messages(lease_until) WHERE state = 'dispatching';
CREATE INDEX messages_submitted ON messages(updated_at) WHERE state = 'submitted';
CREATE TABLE segments (
    message_id    text NOT NULL REFERENCES messages(id),
    idx           integer NOT NULL,
    state         text NOT NULL,
    smsc_id       text,
    link          text,
    submitted_at  double precision,
    receipt_state text,
    error         text,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX segments_smsc ON segments(link, smsc_id) WHERE smsc_id IS NOT NULL;
CREATE TABLE ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account       text NOT NULL REFERENCES accounts(name),
    at            double precision NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('topup', 'debit', 'refund', 'adjustment')),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    reference     text,
    message_id    text,
    note          text
);
CREATE INDEX ledger_account ON ledger(account, id);
CREATE UNIQUE INDEX ledger_message ON ledger(message_id, kind) WHERE message_id IS NOT NULL;
"""

# The SQL both drivers run, in PostgreSQL's own $n form (asyncpg's); psycopg
# gets each $n as %s (_psycopg) and sends it back to the server as $n.
LOCK_ACCOUNT = "SELECT balance, credit_limit FROM accounts WHERE name = $1 FOR UPDATE"
INSERT_MESSAGE = (
    "INSERT INTO messages (id, account, sender, sender_kind, destination, text, encoding,"
    " segments, price, credits, msg_class, send_at, priority, state, next_attempt_at,"
    " created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
)
INSERT_SEGMENT = (
    "INSERT INTO segments (message_id, idx, state, updated_at) VALUES ($1, $2, 'queued', $3)"
)
INSERT_JOURNAL = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, message_id)"
    " VALUES ($1, $2, 'debit', $3, $4, $5)"
)
UPDATE_BALANCE = "UPDATE accounts SET balance = $1 WHERE name = $2"
CLAIM_DUE = (
    "UPDATE messages SET state = 'dispatching', lease_owner = $1, lease_until = $2,"
    " attempts = attempts + 1, updated_at = $3"
    " WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= $4"
    " ORDER BY priority DESC, id LIMIT 500 FOR UPDATE SKIP LOCKED)"  # CLAIM
    " RETURNING id, segments"
)
SEGMENT_OUTCOME = (
    "UPDATE segments SET state = 'submitted', smsc_id = $1, link = $2, submitted_at = $3,"
    " updated_at = $4 WHERE message_id = $5 AND idx = $6"
)
MESSAGE_OUTCOME = (
    "UPDATE messages SET state = 'submitted', updated_at = $1, lease_owner = NULL,"
    " lease_until = NULL WHERE id = $2"
)
SEGMENT_OUTCOMES = (
    "UPDATE segments AS s SET state = 'submitted', smsc_id = o.smsc_id, link = $1,"
    " submitted_at = $2, updated_at = $3"
    " FROM unnest($4::text[], $5::integer[], $6::text[]) AS o(message_id, idx, smsc_id)"
    " WHERE s.message_id = o.message_id AND s.idx = o.idx"
)
MESSAGE_OUTCOMES = (
    "UPDATE messages SET state = 'submitted', updated_at = $1, lease_owner = NULL,"
    " lease_until = NULL WHERE id = ANY($2::text[])"
)

_PLACEHOLDER = re.compile(r"\$(\d+)")


def _psycopg(sql: str) -> str:
    """``sql`` with $1, $2... as %s; they must appear once each, in order."""
    numbers = [int(n) for n in _PLACEHOLDER.findall(sql)]
    if numbers != list(range(1, len(numbers) + 1)):
        msg = f"placeholders out of order for psycopg: {sql}"
        raise ValueError(msg)
    return _PLACEHOLDER.sub("%s", sql)


Row = tuple[object, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    """The rows of one enqueue transaction, built before the clock starts."""

    account: str
    messages: list[Row]
    segments: list[Row]
    journal: list[tuple[str, float, int, str]]  # account, at, amount, message id

    def journal_rows(self, balance: int) -> tuple[list[Row], int]:
        """The journal rows with their balance_after, from ``balance``; the final balance."""
        rows: list[Row] = []
        for account, at, amount, message_id in self.journal:
            balance += amount
            rows.append((account, at, amount, balance, message_id))
        return rows, balance


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """One outcome transaction: SMSC answers for the segments of claimed messages."""

    at: float
    segments: list[tuple[str, int, str]]  # message id, index, SMSC id
    message_ids: list[str]


def _enqueues(phase: int, count: int, per_txn: int, accounts: Sequence[str]) -> list[Enqueue]:
    now = time.time()
    jobs: list[Enqueue] = []
    for start in range(0, count, per_txn):
        account = accounts[(start // per_txn) % len(accounts)]
        messages: list[Row] = []
        segments: list[Row] = []
        journal: list[tuple[str, float, int, str]] = []
        for i in range(start, min(start + per_txn, count)):
            message_id = f"{phase}{i:025d}"
            messages.append(
                (
                    message_id,
                    account,
                    "ACME",
                    "alpha",
                    f"+336{10_000_000 + i}",
                    "Your code is 123456",
                    "gsm7",
                    1,
                    PRICE,
                    PRICE,
                    "normal",
                    now,
                    0,
                    "queued",
                    now,
                    now,
                    now,
                )
            )
            segments.append((message_id, 0, now))
            journal.append((account, now, -PRICE, message_id))
        jobs.append(Enqueue(account=account, messages=messages, segments=segments, journal=journal))
    return jobs


def _check_balance(account: str, balance: int, credit_limit: int, needed: int) -> None:
    if balance - needed < -credit_limit:
        msg = f"{account}: balance {balance} is short of {needed}"
        raise RuntimeError(msg)


class PsycopgDriver:
    """psycopg 3, async, through psycopg_pool; autocommit connections, explicit transactions."""

    name = "psycopg"
    methods: ClassVar[dict[str, str]] = {
        "enqueue 1/txn": "execute, statement by statement",
        "enqueue 1/txn, fastest": "writes + COMMIT in one pipeline",
        "enqueue 100/txn": "executemany x3 + COMMIT in one pipeline",
        "claim 500": "execute + fetchall",
        "outcomes 500/txn, executemany": "executemany x2 + COMMIT in one pipeline",
        "outcomes 500/txn, unnest": "execute x2 (arrays)",
    }

    def __init__(self) -> None:
        self.pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
        self.sql = {
            name: _psycopg(sql)
            for name, sql in {
                "lock": LOCK_ACCOUNT,
                "message": INSERT_MESSAGE,
                "segment": INSERT_SEGMENT,
                "journal": INSERT_JOURNAL,
                "balance": UPDATE_BALANCE,
                "claim": CLAIM_DUE,
                "segment_outcome": SEGMENT_OUTCOME,
                "message_outcome": MESSAGE_OUTCOME,
                "segment_outcomes": SEGMENT_OUTCOMES,
                "message_outcomes": MESSAGE_OUTCOMES,
            }.items()
        }

    async def open(self, url: str, size: int) -> None:
        self.pool = psycopg_pool.AsyncConnectionPool(
            url, min_size=size, max_size=size, kwargs={"autocommit": True}, open=False
        )
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    async def _lock(self, conn: psycopg.AsyncConnection[TupleRow], job: Enqueue) -> int:
        cur = await conn.execute(self.sql["lock"], (job.account,))
        row = await cur.fetchone()
        assert row is not None
        balance, credit_limit = row
        assert isinstance(balance, int)
        assert isinstance(credit_limit, int)
        _check_balance(job.account, balance, credit_limit, PRICE * len(job.messages))
        return balance

    async def enqueue_one(self, job: Enqueue) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            balance = await self._lock(conn, job)
            journal, balance = job.journal_rows(balance)
            await conn.execute(self.sql["message"], job.messages[0])
            await conn.execute(self.sql["segment"], job.segments[0])
            await conn.execute(self.sql["journal"], journal[0])
            await conn.execute(self.sql["balance"], (balance, job.account))

    async def enqueue_one_fastest(self, job: Enqueue) -> None:
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            balance = await self._lock(conn, job)  # fetchone syncs: BEGIN + SELECT
            journal, balance = job.journal_rows(balance)
            await conn.execute(self.sql["message"], job.messages[0])
            await conn.execute(self.sql["segment"], job.segments[0])
            await conn.execute(self.sql["journal"], journal[0])
            await conn.execute(self.sql["balance"], (balance, job.account))

    async def enqueue_batch(self, job: Enqueue) -> None:
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            balance = await self._lock(conn, job)
            journal, balance = job.journal_rows(balance)
            async with conn.cursor() as cur:
                await cur.executemany(self.sql["message"], job.messages)
                await cur.executemany(self.sql["segment"], job.segments)
                await cur.executemany(self.sql["journal"], journal)
                await cur.execute(self.sql["balance"], (balance, job.account))

    async def claim(self, owner: str) -> list[tuple[str, int]]:
        now = time.time()
        async with self.pool.connection() as conn:
            cur = await conn.execute(self.sql["claim"], (owner, now + 60.0, now, now))
            rows = await cur.fetchall()
        return [(str(message_id), int(segments)) for message_id, segments in rows]

    async def outcomes_many(self, batch: Outcomes) -> None:
        segments = [(smsc_id, LINK, batch.at, batch.at, m, i) for m, i, smsc_id in batch.segments]
        messages = [(batch.at, m) for m in batch.message_ids]
        async with (
            self.pool.connection() as conn,
            conn.pipeline(),
            conn.transaction(),
            conn.cursor() as cur,
        ):
            await cur.executemany(self.sql["segment_outcome"], segments)
            await cur.executemany(self.sql["message_outcome"], messages)

    async def outcomes_unnest(self, batch: Outcomes) -> None:
        ids, indexes, smsc_ids = _columns(batch)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                self.sql["segment_outcomes"], (LINK, batch.at, batch.at, ids, indexes, smsc_ids)
            )
            await conn.execute(self.sql["message_outcomes"], (batch.at, batch.message_ids))


class AsyncpgDriver:
    """asyncpg through its pool; its statement cache prepares every statement."""

    name = "asyncpg"
    methods: ClassVar[dict[str, str]] = {
        "enqueue 1/txn": "execute, statement by statement",
        "enqueue 1/txn, fastest": "the same (no pipeline for distinct statements)",
        "enqueue 100/txn": "executemany x3",
        "claim 500": "fetch",
        "outcomes 500/txn, executemany": "executemany x2",
        "outcomes 500/txn, unnest": "execute x2 (arrays)",
    }

    def __init__(self) -> None:
        self.pool: asyncpg.Pool[asyncpg.Record]

    async def open(self, url: str, size: int) -> None:
        self.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)

    async def close(self) -> None:
        await self.pool.close()

    async def _lock(
        self, conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], job: Enqueue
    ) -> int:
        row = await conn.fetchrow(LOCK_ACCOUNT, job.account)
        assert row is not None
        balance: int = row["balance"]
        _check_balance(job.account, balance, row["credit_limit"], PRICE * len(job.messages))
        return balance

    async def enqueue_one(self, job: Enqueue) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            balance = await self._lock(conn, job)
            journal, balance = job.journal_rows(balance)
            await conn.execute(INSERT_MESSAGE, *job.messages[0])
            await conn.execute(INSERT_SEGMENT, *job.segments[0])
            await conn.execute(INSERT_JOURNAL, *journal[0])
            await conn.execute(UPDATE_BALANCE, balance, job.account)

    async def enqueue_one_fastest(self, job: Enqueue) -> None:
        await self.enqueue_one(job)

    async def enqueue_batch(self, job: Enqueue) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            balance = await self._lock(conn, job)
            journal, balance = job.journal_rows(balance)
            await conn.executemany(INSERT_MESSAGE, job.messages)
            await conn.executemany(INSERT_SEGMENT, job.segments)
            await conn.executemany(INSERT_JOURNAL, journal)
            await conn.execute(UPDATE_BALANCE, balance, job.account)

    async def claim(self, owner: str) -> list[tuple[str, int]]:
        now = time.time()
        rows = await self.pool.fetch(CLAIM_DUE, owner, now + 60.0, now, now)
        return [(row["id"], row["segments"]) for row in rows]

    async def outcomes_many(self, batch: Outcomes) -> None:
        segments = [(smsc_id, LINK, batch.at, batch.at, m, i) for m, i, smsc_id in batch.segments]
        messages = [(batch.at, m) for m in batch.message_ids]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(SEGMENT_OUTCOME, segments)
            await conn.executemany(MESSAGE_OUTCOME, messages)

    async def outcomes_unnest(self, batch: Outcomes) -> None:
        ids, indexes, smsc_ids = _columns(batch)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(SEGMENT_OUTCOMES, LINK, batch.at, batch.at, ids, indexes, smsc_ids)
            await conn.execute(MESSAGE_OUTCOMES, batch.at, batch.message_ids)


Driver = PsycopgDriver | AsyncpgDriver


def _columns(batch: Outcomes) -> tuple[list[str], list[int], list[str]]:
    return (
        [m for m, _, _ in batch.segments],
        [i for _, i, _ in batch.segments],
        [s for _, _, s in batch.segments],
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class Tally:
    """One phase of one driver, summed over rounds."""

    messages: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    rates: list[float] = field(default_factory=list)

    def add(self, messages: int, seconds: float, cpu: float, server_cpu: float) -> None:
        self.messages += messages
        self.seconds += seconds
        self.cpu += cpu
        self.server_cpu += server_cpu
        self.rates.append(messages / seconds)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def us_per_message(self, seconds: float) -> float:
        return seconds / self.messages * 1e6


PHASES = tuple(PsycopgDriver.methods)


T = TypeVar("T")


async def _run_all(items: Sequence[T], tasks: int, work: Callable[[T], Awaitable[None]]) -> None:
    """``work`` on every item, ``tasks`` at a time, each task taking the next item."""
    queue: Iterator[T] = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(tasks, len(items))):
            group.create_task(worker())


async def _claim_all(driver: Driver) -> list[list[tuple[str, int]]]:
    batches: list[list[tuple[str, int]]] = []

    async def claimer(owner: str) -> None:
        while rows := await driver.claim(owner):
            batches.append(rows)

    async with asyncio.TaskGroup() as group:
        for n in range(CLAIMERS):
            group.create_task(claimer(f"worker-{n}"))
    return batches


def _outcomes(batches: list[list[tuple[str, int]]]) -> list[Outcomes]:
    now = time.time()
    return [
        Outcomes(
            at=now,
            segments=[(m, i, f"smsc-{m}-{i}") for m, count in rows for i in range(count)],
            message_ids=[m for m, _ in rows],
        )
        for rows in batches
    ]


async def _one_round(
    driver: Driver,
    server: PostgresServer,
    *,
    database: str,
    args: argparse.Namespace,
    tallies: dict[tuple[str, str], Tally],
) -> None:
    accounts = [f"acct{n:03d}" for n in range(args.accounts)]
    server.create_database(database)
    server.psql(SCHEMA, database)
    server.psql(CREATE_ACCOUNTS, database)
    postmaster = server.process.pid if server.process is not None else 0
    await driver.open(server.url(database), args.concurrency)
    try:

        async def timed(phase: str, messages: int, run: Awaitable[None]) -> None:
            cpu, server_cpu, start = _cpu(), tree_cpu(postmaster), time.perf_counter()
            await run
            seconds = time.perf_counter() - start
            tallies[phase, driver.name].add(
                messages, seconds, _cpu() - cpu, tree_cpu(postmaster) - server_cpu
            )

        n, c = args.messages, args.concurrency
        singles = _enqueues(1, n, 1, accounts)
        await timed("enqueue 1/txn", n, _run_all(singles, c, driver.enqueue_one))
        singles = _enqueues(2, n, 1, accounts)
        await timed("enqueue 1/txn, fastest", n, _run_all(singles, c, driver.enqueue_one_fastest))
        batches = _enqueues(3, n, BATCH, accounts)
        await timed("enqueue 100/txn", n, _run_all(batches, c, driver.enqueue_batch))

        claimed: list[list[tuple[str, int]]] = []

        async def claim() -> None:
            claimed.extend(await _claim_all(driver))

        await timed("claim 500", 3 * n, claim())
        ids = [m for rows in claimed for m, _ in rows]
        if len(ids) != len(set(ids)):
            sys.exit(f"{driver.name}: {len(ids) - len(set(ids))} messages claimed twice")
        if len(ids) != 3 * n:
            sys.exit(f"{driver.name}: {len(ids)} messages claimed of {3 * n}")

        outcomes = _outcomes(claimed)
        many, unnest = outcomes[0::2], outcomes[1::2]
        await timed(
            "outcomes 500/txn, executemany",
            sum(len(b.message_ids) for b in many),
            _run_all(many, WRITERS, driver.outcomes_many),
        )
        await timed(
            "outcomes 500/txn, unnest",
            sum(len(b.message_ids) for b in unnest),
            _run_all(unnest, WRITERS, driver.outcomes_unnest),
        )
    finally:
        await driver.close()
    _verify(server, database, n=args.messages)
    server.drop_database(database)


def _verify(server: PostgresServer, database: str, *, n: int) -> None:
    """Every message debited once, journalled, submitted with its segment."""
    found = server.psql(
        "SELECT (SELECT count(*) FROM messages WHERE state = 'submitted'),"
        " (SELECT count(*) FROM segments WHERE state = 'submitted' AND smsc_id IS NOT NULL),"
        " (SELECT count(*) FROM ledger), (SELECT sum(balance) FROM accounts)",
        database,
    )
    expected = "|".join([str(3 * n)] * 3 + [str(MAX_ACCOUNTS * START_BALANCE - 3 * n * PRICE)])
    if found != expected:
        sys.exit(f"{database}: found {found}, expected {expected}")


def _table(tallies: dict[tuple[str, str], Tally]) -> str:
    lines = [
        (
            "| phase | psycopg msg/s | asyncpg msg/s | asyncpg/psycopg | psycopg CPU µs/msg"
            " | asyncpg CPU µs/msg | CPU asyncpg/psycopg | server CPU µs/msg psycopg / asyncpg |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in PHASES:
        p, a = tallies[phase, "psycopg"], tallies[phase, "asyncpg"]
        p_cpu, a_cpu = p.us_per_message(p.cpu), a.us_per_message(a.cpu)

        def rounds(t: Tally) -> str:
            return f"{t.rate:,.0f} ({' / '.join(f'{r:,.0f}' for r in t.rates)})"

        lines.append(
            f"| {phase} | {rounds(p)} | {rounds(a)} | {a.rate / p.rate:.2f} | {p_cpu:.1f}"
            f" | {a_cpu:.1f} | {a_cpu / p_cpu:.2f}"
            f" | {p.us_per_message(p.server_cpu):.0f} / {a.us_per_message(a.server_cpu):.0f} |"
        )
    return "\n".join(lines)


async def _bench(server: PostgresServer, args: argparse.Namespace) -> None:
    tallies = {
        (phase, name): Tally()
        for phase in PHASES
        for name in (PsycopgDriver.name, AsyncpgDriver.name)
    }
    for round_ in range(args.rounds):
        for driver in (PsycopgDriver(), AsyncpgDriver()):
            print(f"round {round_ + 1}: {driver.name}...", flush=True)
            await _one_round(
                driver, server, database=f"bench_{driver.name}_{round_}", args=args, tallies=tallies
            )
    print()
    print(_table(tallies))
    print()
    print(
        "msg/s: all rounds together (each round in brackets); CPU: this process"
        " (getrusage: driver, pool, asyncio), server: the PostgreSQL processes (/proc)"
    )
    for phase in PHASES:
        print(
            f"- {phase}: psycopg {PsycopgDriver.methods[phase]};"
            f" asyncpg {AsyncpgDriver.methods[phase]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5000, help="per enqueue phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="enqueue tasks = pool size")
    parser.add_argument(
        "--accounts",
        type=int,
        default=0,
        help="accounts the enqueues spread over (default: one per task, no lock waits)",
    )
    parser.add_argument(
        "--no-durable",
        dest="durable",
        action="store_false",
        help="fsync, synchronous_commit and full_page_writes off (as the tests run it)",
    )
    args = parser.parse_args()
    args.accounts = args.accounts or args.concurrency
    if not 0 < args.accounts <= MAX_ACCOUNTS:
        parser.error(f"--accounts: 1 to {MAX_ACCOUNTS}")
    if args.messages < CLAIM:  # fewer: no claimed batch left for one of the outcome phases
        parser.error(f"--messages: at least {CLAIM}")
    bindir = find_bindir()
    if bindir is None:
        sys.exit(MISSING_BINARIES)
    try:
        directory, run_as, _ = workspace(lambda: Path(tempfile.mkdtemp(prefix="smsgw-pg-")))
    except NoServerUser as exc:
        sys.exit(str(exc))
    mode = (
        "fsync=on, synchronous_commit=on, full_page_writes=on"
        if args.durable
        else "fsync=off, synchronous_commit=off, full_page_writes=off"
    )
    try:
        with running_server(
            bindir=bindir, directory=directory, run_as=run_as, durable=args.durable
        ) as server:
            version = server.psql("SHOW server_version")
            print(
                f"PostgreSQL {version} on 127.0.0.1:{server.port}, {mode};"
                f" psycopg {psycopg.__version__}, psycopg_pool {psycopg_pool.__version__},"
                f" asyncpg {asyncpg.__version__}; {args.messages} messages per enqueue phase,"
                f" {args.rounds} rounds, concurrency {args.concurrency},"
                f" {args.accounts} accounts"
            )
            asyncio.run(_bench(server, args))
    finally:  # a directory of our own, root or not
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
