"""``smsgw check-config``: what the daemon would run, or one line saying what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.clirun import Cli

LINK = '''
[[link]]
name = "operator-a"
driver = "smpp"
host = "127.0.0.1"
port = 2775
system_id = "gw"
password = "secret"
routes = ["+33"]
'''


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_check_config_shows_what_would_run(cli: Cli) -> None:
    base = cli.config.read_text()
    cli.config.write_text(base + '[http]\nlisten = "127.0.0.1:8081"\n[workers]\ncount = 2\n'
                          + LINK)
    out = cli.ok("check-config").out
    assert "http    127.0.0.1:8081" in out
    assert "workers 2 processes beside the daemon's" in out
    assert "link    operator-a (smpp) routes +33 (weight 1)" in out
    doc = cli.ok("check-config", "--json").json()
    assert (doc["workers"], doc["http"], doc["mqtt"]) == (2, "127.0.0.1:8081", None)


def test_check_config_without_workers_says_nothing_of_them(cli: Cli) -> None:
    cli.config.write_text(cli.config.read_text() + LINK)
    out = cli.ok("check-config").out
    assert "workers" not in out
    assert cli.ok("check-config", "--json").json()["workers"] == 0


def test_check_config_bad_worker_count_is_one_line(cli: Cli) -> None:
    cli.config.write_text(cli.config.read_text() + "[workers]\ncount = 100\n")
    cli.fails("check-config", match="[workers] count: 100: 0 (everything in the daemon's "
                                    "process) to 64")
