"""The daemon as a real process (``python -m gateway run``): kill -9, SIGTERM, SIGHUP, bad input.

The SMSC simulator runs in the test's event loop; the daemon is a child
process with its output in ``daemon.log`` (shown when a test fails); progress
is read from the SQLite file with read-only queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from gateway.model.message import MessageState, SenderKind, SenderStatus
from gateway.store import open_store
from tests.e2e.system import ACCOUNT, PRICE, SENDER, TOPUP, prepare_store, smpp_link, write_config
from tests.fixtures.net import free_port, log_tail
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
FINAL = frozenset(s.value for s in MessageState if s.final)
WINDOW = 64  # the link's window in system.smpp_link


class DaemonProcess:
    """``smsgw run -c CONFIG`` as a child process, restartable; HTTP on a known port."""

    def __init__(self, *, config: Path, port: int, token: str, log: Path) -> None:
        self.config = config
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.log = log
        self.db = config.parent / "gw.db"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def failure(self, what: str) -> AssertionError:
        return AssertionError(f"{what}; end of {self.log}:\n{log_tail(self.log, 40)}")

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def wait_ready(self, http: aiohttp.ClientSession, *, timeout: float = 20.0) -> None:
        """Until GET /readyz answers 200 (store reachable, a link bound)."""

        async def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise self.failure(f"the daemon exited ({code}) while starting")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.base}/readyz") as r:
                    return r.status == 200
            return False

        await eventually(ready, timeout=timeout, what="/readyz", failure=self.failure)

    async def wait_exit(self, *, timeout: float) -> int:
        """The exit code, waiting on the process itself (in a thread)."""
        proc = self.proc
        assert proc is not None
        try:
            return await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            raise self.failure(f"the daemon did not exit within {timeout} s") from None

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.wait_exit(timeout=10) == -signal.SIGKILL

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """A read-only query on the daemon's database, beside the daemon."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def states(db: Path) -> dict[str, int]:
    return dict(query(db, "SELECT state, count(*) FROM messages GROUP BY state"))


def sent(db: Path) -> int:
    """Messages past ``queued`` and ``dispatching``: answered by the SMSC, or final."""
    return sum(n for state, n in states(db).items() if state not in {"queued", "dispatching"})


def reached(db: Path, target: int) -> bool:
    return sent(db) >= target


def finished(db: Path) -> int:
    return sum(n for state, n in states(db).items() if state in FINAL)


async def until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: DaemonProcess,
) -> None:
    """:func:`eventually`, whose failure shows the end of the daemon's log."""
    await eventually(check, timeout=timeout, what=what, failure=proc.failure)


@contextlib.asynccontextmanager
async def smsc(config: SimConfig) -> AsyncIterator[SmscSimulator]:
    sim = SmscSimulator(config=config, port=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


@contextlib.asynccontextmanager
async def daemon_process(
    tmp_path: Path,
    *,
    link: str,
    topup: int = TOPUP,
    dispatcher: str = "",
    extra: str = "",
    mqtt_url: str | None = None,
) -> AsyncIterator[tuple[DaemonProcess, aiohttp.ClientSession]]:
    """The store prepared, the daemon started and ready; killed on exit if still running."""
    port = free_port()
    config = write_config(
        tmp_path / "gateway.toml",
        smsc_port=0,
        link=link,
        listen=f"127.0.0.1:{port}",
        dispatcher=dispatcher,
        mqtt_url=mqtt_url,
        extra="[log]\njson = true\n" + extra,
    )
    loaded = load_config(config)
    token = await prepare_store(loaded.store.url, loaded.base_dir, topup=topup)
    proc = DaemonProcess(config=config, port=port, token=token, log=tmp_path / "daemon.log")
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        proc.start()
        try:
            await proc.wait_ready(http)
            yield proc, http
        finally:
            proc.stop()


def accepted_submits(sim: SmscSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.records if r.get("event") == "submit_sm" and "message_id" in r]


# --- kill -9 -----------------------------------------------------------------------

N = 5000
BATCH = 500
KILLS = 3


async def send_until_accepted(
    proc: DaemonProcess,
    http: aiohttp.ClientSession,
    numbers: list[str],
    ref: str,
) -> list[str]:
    """POST one batch, again with the same client_ref while the daemon is down."""
    body = {"from": SENDER, "to": numbers, "text": "kill test", "client_ref": ref}
    ids: list[str] = []

    async def accepted() -> bool:
        try:
            async with http.post(f"{proc.base}/v1/messages", json=body, headers=proc.auth()) as r:
                doc = await r.json()
        except aiohttp.ClientError:
            return False  # killed under us: again once it is back
        assert r.status == 202, doc
        ids.extend(m["id"] for m in doc["messages"])
        return True

    await eventually(accepted, timeout=60, what=f"batch {ref} accepted", failure=proc.failure)
    return ids


@pytest.mark.slow
async def test_kill_9_at_random_moments_loses_nothing_and_bills_each_message_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(6)
    numbers = [f"+3361{i:07d}" for i in range(N)]
    topup = N * PRICE + 1000
    started = time.monotonic()
    async with (
        smsc(SimConfig(dlr=True, keep_unacked=True)) as sim,
        daemon_process(
            tmp_path,
            link=smpp_link(sim.port),
            topup=topup,
            dispatcher="lease = 3\nmax_in_flight = 1000\n",
        ) as (gw, http),
    ):

        async def send_all() -> list[str]:
            ids: list[str] = []
            for start in range(0, N, BATCH):
                ids += await send_until_accepted(
                    gw, http, numbers[start : start + BATCH], f"batch-{start}"
                )
            return ids

        sender = asyncio.create_task(send_all())
        progress = 0
        kill_points: list[int] = []
        unrecorded: list[int] = []
        for _ in range(KILLS):
            target = progress + rng.randint(300, 1300)
            await until(
                functools.partial(reached, gw.db, target),
                timeout=30,
                what=f"{target} messages sent",
                proc=gw,
            )
            await gw.kill9()
            progress = sent(gw.db)
            kill_points.append(progress)
            # accepted by the SMSC, not recorded by the daemon: these are sent again
            # (the segments keep the SMSC id of their last accepted submit)
            [(recorded,)] = query(gw.db, "SELECT count(*) FROM segments WHERE smsc_id IS NOT NULL")
            unrecorded.append(len(accepted_submits(sim)) - recorded - sum(unrecorded))
            gw.start()
            await gw.wait_ready(http)
        ids = await asyncio.wait_for(sender, timeout=60)
        await until(
            lambda: finished(gw.db) == N, timeout=60, what="every message in a final state", proc=gw
        )
        elapsed = time.monotonic() - started

    assert len(set(ids)) == N
    assert states(gw.db) == {"delivered": N}
    assert {r[0] for r in query(gw.db, "SELECT id FROM messages")} == set(ids)
    accepted = accepted_submits(sim)
    sent_to = Counter(r["to"] for r in accepted)
    assert set(sent_to) == {n[1:] for n in numbers}
    duplicates = len(accepted) - N
    [(balance,)] = query(gw.db, "SELECT balance FROM accounts WHERE name = ?", ACCOUNT)
    assert balance == topup - N * PRICE
    [(journal,)] = query(gw.db, "SELECT sum(amount) FROM ledger WHERE account = ?", ACCOUNT)
    assert journal == balance
    debits = dict(query(gw.db, "SELECT kind, count(*) FROM ledger GROUP BY kind"))
    assert debits == {"topup": 1, "debit": N}
    twice = query(
        gw.db,
        "SELECT message_id FROM ledger WHERE kind = 'debit' "
        "GROUP BY message_id HAVING count(*) > 1",
    )
    assert twice == []
    report = (
        f"kill -9 run: {N} messages, kills after {kill_points} sent, "
        f"{unrecorded} accepted but unrecorded at the kills, "
        f"{duplicates} duplicate submits, {elapsed:.1f} s"
    )
    print(report)  # noqa: T201 - the figures, with pytest -s
    # only what the SMSC accepted and the daemon had not recorded is sent again
    assert duplicates <= sum(unrecorded), report
    # the dispatcher keeps at most one window per link sent and not yet recorded
    assert duplicates <= WINDOW * KILLS, report


# --- SIGTERM -----------------------------------------------------------------------


STOP_TIMEOUT = 2


async def test_sigterm_finishes_accepted_submits_records_them_and_unbinds(
    tmp_path: Path,
) -> None:
    async with (
        smsc(SimConfig(dlr=True, delay=0.3)) as sim,
        daemon_process(
            tmp_path,
            link=smpp_link(sim.port),
            topup=2000,
            dispatcher=f"stop_timeout = {STOP_TIMEOUT}\n",
        ) as (gw, http),
    ):
        numbers = [f"+3362{i:07d}" for i in range(1500)]  # 7 s at 64 per 0.3 s
        async with http.post(
            f"{gw.base}/v1/messages",
            headers=gw.auth(),
            json={"from": SENDER, "to": numbers, "text": "stop"},
        ) as r:
            assert r.status == 202, await r.text()
        await until(
            lambda: len(accepted_submits(sim)) >= 1, timeout=10, what="a submit in flight", proc=gw
        )
        gw.signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert await gw.wait_exit(timeout=STOP_TIMEOUT + 10) == 0
        took = time.monotonic() - stopping
        # the dispatcher's stop_timeout, then the link's own bounded drain and unbind
        assert took < STOP_TIMEOUT + 5
        accepted = {r["message_id"] for r in accepted_submits(sim)}
        recorded = dict(
            query(gw.db, "SELECT smsc_id, state FROM segments WHERE smsc_id IS NOT NULL")
        )
        assert accepted, "the SMSC accepted nothing before the stop"
        assert accepted <= set(recorded), sorted(accepted - set(recorded))[:5]
        assert {recorded[i] for i in accepted} <= {"submitted", "delivered"}
        assert any(r.get("event") == "unbind" for r in sim.records)
        # what was not sent waits in the queue for the next start, not under a lease
        left = states(gw.db)
        assert sum(left.values()) == len(numbers)
        assert set(left) <= {"queued", "submitted", "delivered"}, left
        assert left.get("queued", 0) > 0, "everything was sent before the stop: nothing tested"


# --- kill -9 between the parts of a reply ------------------------------------------

REPLY = (
    "Yes please, call me back tomorrow morning before ten, or after six in the evening. "
    "I am at the office all day on Thursday; the number is the one on the letter. "
    "Thanks, and sorry for the delay: the message only reached me today."
)


def delivering(sim: SmscSimulator) -> int:
    """Binds the simulator can send MO on."""
    return sum(1 for p in sim.bound() if p.session.can_deliver)


async def test_kill_9_after_a_replys_first_part_was_acknowledged_loses_none_of_it(
    tmp_path: Path,
) -> None:
    async with (
        smsc(SimConfig(dlr=False)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port)) as (gw, http),
    ):

        def send_part(sequence: int) -> int:
            return sim.inject_mo(
                source="+33612345678",
                destination="+33700000001",
                text=REPLY,
                parts=2,
                order=[sequence],
                reference=42,
            )

        assert send_part(1) == 1
        # acknowledged (deliver_sm_resp ESME_ROK): this SMSC will not send it again
        await until(
            lambda: all(p.session.unanswered == 0 for p in sim.bound()),
            timeout=10,
            what="the first part acknowledged",
            proc=gw,
        )
        assert not any(r.get("event") == "deliver_sm_refused" for r in sim.records)
        await gw.kill9()
        assert query(gw.db, "SELECT count(*) FROM inbound") == [(0,)]
        gw.start()
        await gw.wait_ready(http)
        await until(lambda: delivering(sim) == 1, timeout=10, what="only the new bind", proc=gw)
        assert send_part(2) == 1
        await until(
            lambda: query(gw.db, "SELECT count(*) FROM inbound") == [(1,)],
            timeout=10,
            what="the reply stored",
            proc=gw,
        )
        assert query(gw.db, "SELECT account, source, destination, text FROM inbound") == [
            (ACCOUNT, "+33612345678", "+33700000001", REPLY)
        ]
        # its parts are kept, done, to know a copy the SMSC might send again
        assert query(gw.db, "SELECT sequence, done FROM inbound_parts ORDER BY 1") == [
            (1, 1),
            (2, 1),
        ]


# --- a second daemon on the same store --------------------------------------------


def journal_files(db: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in db.parent.glob(f"{db.name}-*.accepted.*")}


async def test_a_second_run_on_the_same_store_is_refused_before_touching_it(
    tmp_path: Path,
) -> None:
    async with (
        smsc(SimConfig(dlr=False)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port)) as (gw, http),
    ):
        async with http.post(
            f"{gw.base}/v1/messages",
            headers=gw.auth(),
            json={"from": SENDER, "to": ["+33612345678"], "text": "mine"},
        ) as r:
            assert r.status == 202, await r.text()
        # the first daemon's journal holds the accepted segment until its next rotation
        await until(
            lambda: any(journal_files(gw.db).values()),
            timeout=10,
            what="the accepted segment in the journal",
            proc=gw,
        )
        before = journal_files(gw.db)
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "run",
            "-c",
            str(gw.config),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(second.communicate(), 30)
        assert gw.proc is not None
        assert (second.returncode, out, err.decode().splitlines()) == (
            1,
            b"",
            [f"smsgw: store {gw.db} is in use by another smsgw run (pid {gw.proc.pid})"],
        )
        assert journal_files(gw.db) == before
        assert gw.running
        await gw.wait_ready(http)
    assert len(accepted_submits(sim)) == 1


# --- SIGHUP ------------------------------------------------------------------------


async def test_sighup_adds_a_link_and_keeps_the_bound_one(tmp_path: Path) -> None:
    async with smsc(SimConfig(dlr=True)) as sim1, smsc(SimConfig(dlr=True)) as sim2:
        first_link = smpp_link(sim1.port, routes='["+33"]')
        async with daemon_process(tmp_path, link=first_link) as (gw, http):
            binds = [r for r in sim1.records if r.get("event") in {"connected", "bind"}]
            assert [r["event"] for r in binds] == ["connected", "bind"]
            text = gw.config.read_text(encoding="utf-8")
            second = smpp_link(sim2.port, name="smsc-2", routes='["+32"]')
            gw.config.write_text(text + second, encoding="utf-8")
            gw.signal(signal.SIGHUP)
            await until(lambda: bool(sim2.bound()), timeout=10, what="smsc-2 bound", proc=gw)
            body = {"from": SENDER, "to": ["+32470123456", "+33612345678"], "text": "hup"}
            async with http.post(f"{gw.base}/v1/messages", headers=gw.auth(), json=body) as r:
                assert r.status == 202, await r.text()
            await until(
                lambda: states(gw.db) == {"delivered": 2},
                timeout=10,
                what="both messages delivered",
                proc=gw,
            )
            assert gw.running
        assert [r["to"] for r in accepted_submits(sim2)] == ["32470123456"]
        assert [r["to"] for r in accepted_submits(sim1)] == ["33612345678"]
        after = [
            r["event"]
            for r in sim1.records
            if r.get("event") in {"connected", "bind", "disconnected", "unbind"}
        ]
        # the daemon was killed at the end of the block: one disconnect, no second bind
        assert after[:2] == ["connected", "bind"]
        assert "bind" not in after[2:]
        assert after.count("connected") == 1


# --- bad input ---------------------------------------------------------------------


async def _other_accounts_message(gw: DaemonProcess, http: aiohttp.ClientSession) -> str:
    loaded = load_config(gw.config)
    store = await open_store(loaded.store.url, base=loaded.base_dir)
    try:
        await store.create_account("other")
        await store.topup("other", 10, reference="other-1")
        await store.add_sender("other", "OTHERCO", SenderKind.ALPHA)
        await store.set_sender_status("other", "OTHERCO", SenderStatus.APPROVED)
        _, token = await store.create_token("other")
    finally:
        await store.close()
    async with http.post(
        f"{gw.base}/v1/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"from": "OTHERCO", "to": ["+33612345678"], "text": "x"},
    ) as r:
        doc = await r.json()
        assert r.status == 202, doc
        message_id: str = doc["messages"][0]["id"]
        return message_id


BAD_SENDS: list[tuple[str, bytes, int, set[str]]] = [
    ("malformed JSON", b'{"from": "ACME", "to": [', 400, {"malformed_json"}),
    ("not an object", b'["+33612345678"]', 400, {"not_an_object"}),
    ("wrong type", b'{"from": "ACME", "to": "+33612345678", "text": 42}', 400, {"wrong_type"}),
    (
        "unknown field",
        b'{"from": "ACME", "to": ["+33612345678"], "text": "x", "tag": 1}',
        400,
        {"unknown_field"},
    ),
    (
        "invalid UTF-8",
        b'{"from": "ACME", "to": ["+33612345678"], "text": "\xff\xfe"}',
        400,
        {"invalid_utf8"},
    ),
    (
        "national number",
        b'{"from": "ACME", "to": ["0612345678"], "text": "x"}',
        400,
        {"invalid_recipient"},
    ),
    (
        "unapproved sender",
        b'{"from": "NOTOURS", "to": ["+33612345678"], "text": "x"}',
        403,
        {"sender_not_allowed"},
    ),
    (
        "2 MB body",
        json.dumps(
            {"from": "ACME", "to": ["+33612345678"], "text": "x" * (2 * 1024 * 1024)}
        ).encode(),
        413,
        {"too_large"},
    ),
]


async def test_bad_input_gets_clear_4xx_and_the_daemon_keeps_running(tmp_path: Path) -> None:
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port)) as (gw, http),
    ):
        seen: dict[str, tuple[int, str]] = {}
        for name, body, _, _ in BAD_SENDS:
            async with http.post(
                f"{gw.base}/v1/messages",
                data=io.BytesIO(body),
                headers={**gw.auth(), "Content-Type": "application/json"},
            ) as r:
                doc = await r.json()
                assert isinstance(doc.get("detail"), str), (name, doc)
                assert "\n" not in doc["detail"], (name, doc)
                seen[name] = (r.status, doc["error"])
        other = await _other_accounts_message(gw, http)
        async with http.get(f"{gw.base}/v1/messages/{other}", headers=gw.auth()) as r:
            seen["another account's message"] = (r.status, (await r.json())["error"])
        async with http.post(f"{gw.base}/v1/messages/{other}/cancel", headers=gw.auth()) as r:
            seen["another account's cancel"] = (r.status, (await r.json())["error"])
        async with http.get(f"{gw.base}/v1/balance") as r:
            seen["no token"] = (r.status, (await r.json())["error"])
        expected = {name: (status, codes) for name, _, status, codes in BAD_SENDS}
        expected["another account's message"] = (404, {"not_found"})
        expected["another account's cancel"] = (404, {"not_found"})
        expected["no token"] = (401, {"unauthorized"})
        wrong = {
            name: got
            for name, got in seen.items()
            if got[0] != expected[name][0] or got[1] not in expected[name][1]
        }
        assert wrong == {}
        async with http.get(f"{gw.base}/healthz") as r:
            assert r.status == 200
        assert gw.running
        # nothing was charged for the refusals
        async with http.get(f"{gw.base}/v1/balance", headers=gw.auth()) as r:
            assert (await r.json())["balance"] == TOPUP
