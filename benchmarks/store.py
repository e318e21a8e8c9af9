"""Store benchmark: enqueue with debit, and claim-and-mark, on SQLite or PostgreSQL.

Run: .venv/bin/python benchmarks/store.py [--messages N] [--synchronous full|normal]
                                          [--backend sqlite|postgresql]

``--backend postgresql``: the same store calls on a fresh database of a
private PostgreSQL server (tests/fixtures/postgres.py ``running_server``,
durable: fsync, synchronous_commit and full_page_writes on, as in
production), with the CPU seconds of PostgreSQL's processes per phase; no
naive baseline (it is SQLite's stdlib module).

Figures, all measured in the same run on fresh files:

- enqueue/s: ``store.enqueue`` (debit + message + segment + journal row)
  in batches of 500, 8 batches in flight (group commit);
- enqueue/s, one message per call with 256 callers in flight (group commit
  of small operations, as HTTP/MQTT ingress produces them);
- state changes/s: 4 dispatcher workers, each looping on ``claim_due``
  (queued -> dispatching, 500 at a time), ``record_outcomes`` (segment
  accepted -> submitted), ``record_receipts`` (delivered): three message
  state changes per message;
- baseline "naive": the same SQL with stdlib sqlite3, one transaction per
  message (enqueue) or per state change (claim-and-mark), same PRAGMAs.

Targets (issue 3): >= 20,000 enqueues/s in batches, >= 50,000 state changes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_system import tree_cpu
from gateway.link.interface import Receipt
from gateway.model.ids import new_id
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import NewMessage, OutcomeRecord
from gateway.store import open_store
from gateway.store.sqlite.connect import connect
from gateway.store.sqlite.schema import migrate
from tests.fixtures.postgres import (
    MISSING_BINARIES,
    NoServerUser,
    find_bindir,
    running_server,
    workspace,
)

BATCH = 500
IN_FLIGHT = 8
CLAIM = 500
WORKERS = 4


def _messages(n: int) -> list[NewMessage]:
    return [
        NewMessage(
            account="acme",
            sender="ACME",
            sender_kind=SenderKind.ALPHA,
            destination=f"+336{10_000_000 + i}",
            text="Your code is 123456",
            encoding="gsm7",
            segments=1,
            price=1,
        )
        for i in range(n)
    ]


async def bench_store(
    url: str, n: int, synchronous: str, server_cpu: Callable[[], float] | None = None
) -> dict[str, float]:
    """The rates; with ``server_cpu`` also the server's CPU seconds per message of each phase
    (``cpu_enqueue``, ``cpu_enqueue_single``, ``cpu_changes``: per state change)."""
    cpu = server_cpu or (lambda: 0.0)
    store = await open_store(url, synchronous=synchronous)
    await store.create_account("acme")
    await store.topup("acme", 10**12, reference="bench")
    batch = _messages(n)
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(chunk: list[NewMessage]) -> None:
        async with sem:
            await store.enqueue(chunk)

    t, c = time.perf_counter(), cpu()
    await asyncio.gather(*(one(batch[i : i + BATCH]) for i in range(0, n, BATCH)))
    enqueue = n / (time.perf_counter() - t)
    cpu_enqueue = (cpu() - c) / n

    small = _messages(n // 4)
    callers = asyncio.Semaphore(256)

    async def single(m: NewMessage) -> None:
        async with callers:
            await store.enqueue([m])

    t, c = time.perf_counter(), cpu()
    await asyncio.gather(*(single(m) for m in small))
    enqueue_single = len(small) / (time.perf_counter() - t)
    cpu_single = (cpu() - c) / len(small)

    now = time.time() + 1

    async def worker(name: str) -> int:
        done = 0
        while True:
            claimed = await store.claim_due(name, now=now, limit=CLAIM, lease_seconds=60)
            if not claimed:
                return done
            done += len(claimed)
            out = await store.record_outcomes(
                [
                    OutcomeRecord(
                        message_id=m.id, index=0, link="op-a", outcome=Accepted(smsc_id=m.id)
                    )
                    for m in claimed
                ],
                now=now,
            )
            rec = await store.record_receipts(
                [Receipt(link="op-a", smsc_id=m.id, state=ReceiptState.DELIVERED) for m in claimed],
                now=now,
            )
            done += len(out.changes) + len(rec.changes)

    t, c = time.perf_counter(), cpu()
    changes = sum(await asyncio.gather(*(worker(f"w{i}") for i in range(WORKERS))))
    marks = changes / (time.perf_counter() - t)
    cpu_changes = (cpu() - c) / max(changes, 1)
    assert await store.verify_ledger() == {}
    await store.close()
    return {
        "enqueue": enqueue,
        "enqueue_single": enqueue_single,
        "changes": marks,
        "cpu_enqueue": cpu_enqueue,
        "cpu_enqueue_single": cpu_single,
        "cpu_changes": cpu_changes,
    }


def bench_naive(path: Path, n: int, synchronous: str) -> dict[str, float]:
    """One transaction per message / per state change, stdlib sqlite3, same schema."""
    conn = connect(str(path), synchronous=synchronous)
    migrate(conn, path=str(path))
    now = time.time()
    conn.execute(
        "INSERT INTO accounts (name, balance, month, created_at) "
        "VALUES ('acme', 1000000000000, '', 0)"
    )
    ids = []
    t = time.perf_counter()
    for i in range(n):
        mid = new_id(now)
        ids.append(mid)
        conn.execute("BEGIN IMMEDIATE")
        balance = conn.execute("SELECT balance FROM accounts WHERE name = 'acme'").fetchone()[0]
        conn.execute("UPDATE accounts SET balance = ? WHERE name = 'acme'", (balance - 1,))
        conn.execute(
            "INSERT INTO messages (id, account, sender, sender_kind, destination, text, "
            "encoding, segments, price, credits, msg_class, send_at, priority, state, "
            "next_attempt_at, created_at, updated_at) VALUES (?, 'acme', 'ACME', 'alpha', ?, "
            "'Your code is 123456', 'gsm7', 1, 1, 1, 'standard', ?, 0, 'queued', ?, ?, ?)",
            (mid, f"+336{10_000_000 + i}", now, now, now, now),
        )
        conn.execute(
            "INSERT INTO segments (message_id, idx, state, updated_at) VALUES (?, 0, 'pending', ?)",
            (mid, now),
        )
        conn.execute(
            "INSERT INTO ledger (account, at, kind, amount, balance_after, message_id) "
            "VALUES ('acme', ?, 'debit', -1, ?, ?)",
            (now, balance - 1, mid),
        )
        conn.execute("COMMIT")
    enqueue = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for mid in ids:
        for state in ("dispatching", "submitted", "delivered"):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE messages SET state = ?, updated_at = ? WHERE id = ?", (state, now, mid)
            )
            conn.execute(
                "UPDATE segments SET state = ?, updated_at = ? WHERE message_id = ?",
                ("accepted" if state == "submitted" else "pending", now, mid),
            )
            conn.execute("COMMIT")
    changes = 3 * n / (time.perf_counter() - t)
    conn.close()
    return {"enqueue": enqueue, "changes": changes}


def bench_postgresql(n: int) -> int:
    bindir = find_bindir()
    if bindir is None:
        sys.exit(MISSING_BINARIES)
    try:
        directory, run_as, _ = workspace(lambda: Path(tempfile.mkdtemp(prefix="smsgw-pg-")))
    except NoServerUser as exc:
        sys.exit(str(exc))
    try:
        with running_server(
            bindir=bindir, directory=directory, run_as=run_as, durable=True
        ) as server:
            assert server.process is not None
            postmaster = server.process.pid
            url = server.create_database("bench_store")
            version = server.psql("SHOW server_version")
            ours = asyncio.run(bench_store(url, n, "full", lambda: tree_cpu(postmaster)))
    finally:  # a directory of our own, root or not
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"PostgreSQL {version}, fsync=on, synchronous_commit=on, full_page_writes=on, {n} messages"
    )
    print(f"{'':44} {'smsgw':>10} {'server CPU us':>14}")
    rows = [
        ("enqueue/s (batches of 500, group commit)", "enqueue", "cpu_enqueue"),
        ("enqueue/s (1 message per call, 256 callers)", "enqueue_single", "cpu_enqueue_single"),
        ("state changes/s (claim, outcome, receipt)", "changes", "cpu_changes"),
    ]
    for label, rate, cpu in rows:
        print(f"{label:44} {ours[rate]:10,.0f} {ours[cpu] * 1e6:14,.1f}")
    print("server CPU us: PostgreSQL's processes, per message (per state change for changes)")
    ok = ours["enqueue"] >= 20_000 and ours["changes"] >= 50_000
    print(
        f"targets (>= 20,000 enqueues/s, >= 50,000 state changes/s): {'met' if ok else 'NOT met'}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--naive-messages", type=int, default=2_000)
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.backend == "postgresql":
        return bench_postgresql(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(
            bench_store(f"sqlite:///{Path(tmp) / 'store.db'}", args.messages, args.synchronous)
        )
        naive = bench_naive(Path(tmp) / "naive.db", args.naive_messages, args.synchronous)
    print(
        f"SQLite {sqlite3.sqlite_version}, synchronous={args.synchronous}, "
        f"{args.messages} messages (naive baseline: {args.naive_messages})"
    )
    print(f"{'':44} {'smsgw':>10} {'naive':>10} {'ratio':>7}")
    rows = [
        ("enqueue/s (batches of 500, group commit)", ours["enqueue"], naive["enqueue"]),
        ("enqueue/s (1 message per call, 256 callers)", ours["enqueue_single"], naive["enqueue"]),
        ("state changes/s (claim, outcome, receipt)", ours["changes"], naive["changes"]),
    ]
    for label, value, base in rows:
        print(f"{label:44} {value:10,.0f} {base:10,.0f} {value / base:6.1f}x")
    ok = ours["enqueue"] >= 20_000 and ours["changes"] >= 50_000
    print(
        f"targets (>= 20,000 enqueues/s, >= 50,000 state changes/s): {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
