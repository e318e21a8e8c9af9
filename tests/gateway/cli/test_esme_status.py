"""``smsgw esme status`` and ``smsgw link list``: the running daemon's /esme and /links
read over HTTP (a loopback server answering as the daemon does), which daemon
answered, and one line when it cannot be read."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.net import free_port
from tests.gateway.cli.clirun import Cli

BIND = {
    "system_id": "acme1",
    "account": "acme",
    "bind_type": "transceiver",
    "peer": "192.0.2.7",
    "peer_port": 40001,
    "tls": False,
    "bound_since": "2026-12-08T00:30:00Z",
    "in_flight": 2,
}
LINK = {
    "name": "smsc-1",
    "driver": "smpp",
    "up": True,
    "bound": True,
    "in_flight": 3,
    "window": 64,
    "throttled": False,
    "detail": "127.0.0.1:2775",
    "counters": {},
    "gauges": {},
}


class Daemon:
    """Answers GET ``path`` with ``pages[path]`` (a status and a body) on loopback."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes]] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = pages.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def page(self, path: str, doc: object, status: int = 200) -> None:
        self.pages[path] = (status, json.dumps(doc).encode())


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    thread = threading.Thread(target=d.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield d
    d.server.shutdown()
    d.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def with_http(cli: Cli, port: int) -> None:
    cli.config.write_text(
        cli.config.read_text(encoding="utf-8") + f'\n[http]\nlisten = "0.0.0.0:{port}"\n',
        encoding="utf-8",
    )


def test_status_shows_who_is_bound_and_which_daemon_answered(cli: Cli, daemon: Daemon) -> None:
    daemon.page("/esme", {"daemon": "gw-a", "smpp_server": True, "binds": [BIND]})
    with_http(cli, daemon.port)  # [http] listen on every address: asked on loopback
    lines = cli.ok("esme", "status").out.splitlines()
    assert lines[0] == f"daemon gw-a at {daemon.url}"
    assert lines[1].split() == [
        "SYSTEM_ID", "ACCOUNT", "BIND_TYPE", "PEER", "TLS", "BOUND_SINCE", "IN_FLIGHT",
    ]  # fmt: skip
    assert lines[2].split() == [
        "acme1", "acme", "transceiver", "192.0.2.7:40001", "no", "2026-12-08T00:30:00Z", "2",
    ]  # fmt: skip
    doc = cli.ok("esme", "status", "--json").json()
    assert doc == {"daemon": "gw-a", "smpp_server": True, "binds": [BIND]}


def test_status_at_url_when_none_is_bound_or_no_smpp_server_runs(cli: Cli, daemon: Daemon) -> None:
    daemon.page("/esme", {"daemon": "gw-b", "smpp_server": True, "binds": []})
    out = cli.ok("esme", "status", "--url", daemon.url + "/").out  # no [http] needed
    assert out == f"daemon gw-b at {daemon.url}\nno ESME bound\n"
    daemon.page("/esme", {"daemon": "gw-b", "smpp_server": False, "binds": []})
    out = cli.ok("esme", "status", "--url", daemon.url).out
    assert out.splitlines()[1] == "no SMPP server runs there ([smpp_server] is not configured)"


def test_link_list_reads_links_through_the_same_code(cli: Cli, daemon: Daemon) -> None:
    daemon.page("/links", {"daemon": "gw-a", "links": [LINK]})
    lines = cli.ok("link", "list", "--url", daemon.url).out.splitlines()
    assert lines[0] == f"daemon gw-a at {daemon.url}"
    assert lines[2].split() == ["smsc-1", "smpp", "bound", "3/64", "127.0.0.1:2775"]
    assert cli.ok("link", "list", "--url", daemon.url, "--json").json()["links"] == [LINK]


def test_status_failures_are_one_line(cli: Cli, daemon: Daemon) -> None:
    cli.fails("esme", "status", match="esme status asks the running daemon over HTTP")
    cli.fails("link", "list", match="link list asks the running daemon over HTTP")
    nobody = f"http://127.0.0.1:{free_port()}"
    cli.fails("esme", "status", "--url", nobody, match=f"does not answer at {nobody}/esme")
    cli.fails("esme", "status", "--url", "127.0.0.1:8080", match="give an http:// or https://")
    cli.fails("esme", "status", "--url", daemon.url, match="answered /esme with HTTP 404")
    daemon.pages["/esme"] = (200, b"<html>")
    cli.fails("esme", "status", "--url", daemon.url, match="did not answer /esme with JSON")
    daemon.page("/esme", [1, 2])
    cli.fails("esme", "status", "--url", daemon.url, match="with a JSON object")
