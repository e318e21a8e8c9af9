"""``smsgw check-config``: what the daemon would run, or one line saying what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli

LINK = """
[[link]]
name = "operator-a"
driver = "smpp"
host = "127.0.0.1"
port = 2775
system_id = "gw"
password = "secret"
routes = ["+33"]
"""


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_check_config_shows_what_would_run(cli: Cli) -> None:
    base = cli.config.read_text()
    cli.config.write_text(base + '[http]\nlisten = "127.0.0.1:8081"\n[workers]\ncount = 2\n' + LINK)
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


def test_check_config_says_where_the_console_is(cli: Cli) -> None:
    base = cli.config.read_text()
    cli.config.write_text(base + LINK)
    assert "console off" in cli.ok("check-config").out
    cli.config.write_text(base + '[http]\n[console]\npath = "/web"\n' + LINK)
    assert "console /web" in cli.ok("check-config").out
    assert cli.ok("check-config", "--json").json()["console"] == "/web"


def test_check_config_bad_worker_count_is_one_line(cli: Cli) -> None:
    cli.config.write_text(cli.config.read_text() + "[workers]\ncount = 100\n")
    cli.fails(
        "check-config", match="[workers] count: 100: 0 (everything in the daemon's process) to 64"
    )


def numbered(text: str) -> dict[str, int]:
    """The line number of each ``key =`` line (the first of each key)."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.split("=", 1)[0].strip()
        if "=" in line and key not in lines:
            lines[key] = number
    return lines


def test_check_config_reports_every_problem_at_its_keys_line(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SMSGW_TEST_MISSING", raising=False)
    text = cli.config.read_text() + (
        '[http]\nlisten = "nowhere"\nmax_connections = 0\n'
        '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\npassword = "env:SMSGW_TEST_MISSING"\n'
        '[dispatcher]\nbatch = "many"\n'
        + LINK.replace("port = 2775", 'port = 2775\nwindow = 0\nconcat = "udh9"')
    )
    cli.config.write_text(text)
    line = numbered(text)
    result = cli("check-config")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.splitlines() == [
        f"smsgw: gateway.toml line {line['listen']}: [http] listen: 'nowhere' is not HOST:PORT",
        (
            f"smsgw: gateway.toml line {line['max_connections']}: [http] max_connections: 0: "
            "at least 1"
        ),
        (
            f"smsgw: gateway.toml line {line['password']}: [mqtt] password: environment variable "
            "SMSGW_TEST_MISSING is not set"
        ),
        f"smsgw: gateway.toml line {line['batch']}: [dispatcher] batch: must be a whole number",
        (
            f"smsgw: gateway.toml line {line['window']}: link 'operator-a': window: must be an "
            "integer 1..1000"
        ),
        (
            f"smsgw: gateway.toml line {line['concat']}: link 'operator-a': concat: must be one of "
            "udh8, udh16, sar, payload, not 'udh9'"
        ),
        f"smsgw: 6 problems in {cli.config}",
    ]
    doc = cli("check-config", "--json").json()
    assert len(doc["errors"]) == 6
    # smsgw run says the first, and that there are more
    cli.fails(
        "run",
        match=f"gateway.toml line {line['listen']}: [http] listen: 'nowhere' "
        "is not HOST:PORT (and 3 more: `smsgw check-config` lists them)",
    )


def test_check_config_points_at_the_keys_of_a_modem_link(cli: Cli) -> None:
    text = cli.config.read_text() + (
        '\n[[link]]\nname = "gsm"\ndriver = "modem"\ndevice = "/dev/ttyUSB0"\n'
        'colour = "red"\nbaudrate = 1\n'
    )
    cli.config.write_text(text)
    line = numbered(text)
    result = cli("check-config")
    assert result.err.splitlines()[:2] == [
        (
            f"smsgw: gateway.toml line {line['colour']}: link 'gsm': unknown key 'colour' for "
            "driver 'modem'"
        ),
        (
            f"smsgw: gateway.toml line {line['baudrate']}: link 'gsm': 'baudrate' must be an "
            "integer >= 300"
        ),
    ]


def test_check_config_names_the_secret_of_a_link_that_cannot_be_read(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SMSGW_TEST_MISSING", raising=False)
    text = cli.config.read_text() + LINK.replace('"secret"', '"env:SMSGW_TEST_MISSING"')
    cli.config.write_text(text)
    cli.fails(
        "check-config",
        match=f"gateway.toml line {numbered(text)['password']}: "
        "link 'operator-a': password: environment variable "
        "SMSGW_TEST_MISSING is not set",
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://smsgw:pw@db1/smsgw", "the password does not belong in the URL"),
        ("sqlite://db1/gw.db", "use sqlite:///absolute/path"),
        ("sqlite:not-a-db.txt/gw.db", "not-a-db.txt is not a directory"),
        ("sqlite:not-a-db.txt", "not-a-db.txt is not a smsgw database (not an SQLite file)"),
        ("sqlite:var", "var is not a file"),
    ],
)
def test_check_config_refuses_a_store_no_command_can_open(
    cli: Cli,
    url: str,
    words: str,
) -> None:
    (cli.dir / "not-a-db.txt").write_text("hello\n" * 20)
    (cli.dir / "var").mkdir(exist_ok=True)
    cli.config.write_text(f'[store]\nurl = "{url}"\n')
    result = cli.fails("check-config", match=words)
    assert result.err.startswith("smsgw: gateway.toml line 2: [store] url: ")


def test_check_config_passes_a_store_that_does_not_exist_yet(cli: Cli) -> None:
    cli.config.write_text('[store]\nurl = "sqlite:new/dir/gw.db"\n')
    assert "config" in cli.ok("check-config").out
    assert not (cli.dir / "new").exists()  # checked, not created
