"""``smsgw modem-sim`` as a user runs it: a process, a symlinked pty, a console."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from drivers.modem.link.driver import ModemLink
from gateway.link.interface import submit
from gateway.model.outcomes import Accepted
from tests.drivers.modem.harness import Recorder, link_config, request
from tests.waiting import eventually


async def test_modem_sim_command_serves_a_link_and_takes_console_commands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "modem"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "modem-sim",
        "--link",
        str(path),
        "--report-delay",
        "0",
        "--echo",
        "--wake-error",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert first.decode().strip() == str(path)
        assert path.is_symlink()
        rec = Recorder()
        link = ModemLink(
            config=link_config(str(path)), handler=rec, retry_delay=0.01, backoff=(0.05, 0.2)
        )
        task = asyncio.create_task(link.run())
        try:
            await eventually(lambda: link.bound, timeout=10)
            assert isinstance(await submit(link, request("+33612345678")), Accepted)
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line.decode().startswith("sent to +33612345678")
            await eventually(lambda: len(rec.receipts) == 1)
            proc.stdin.write(b"mo +33611111111 hello modem\n")
            await proc.stdin.drain()
            await eventually(lambda: len(rec.parts) == 1, timeout=10)
            assert rec.parts[0].payload == b"hello modem"
            assert rec.parts[0].source == "+33611111111"
        finally:
            await link.stop(timeout=2)
            await asyncio.wait_for(task, 5)
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert not path.exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_modem_sim_reports_a_bad_link_path_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.runtime.commands import main

    assert main(["modem-sim", "--link", str(tmp_path / "missing" / "modem")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smsgw: cannot create the modem at ")
    assert err.count("\n") == 1


def test_modem_sim_refuses_an_impossible_error_share(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.runtime.commands import main

    assert main(["modem-sim", "--cms-error-share", "2"]) == 1
    assert "--cms-error-share" in capsys.readouterr().err
