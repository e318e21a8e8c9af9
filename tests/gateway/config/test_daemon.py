"""The daemon's configuration sections: values, defaults, and errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.daemon import daemon_settings
from gateway.config.file import load_config
from gateway.console.settings import ConsoleSettings
from gateway.ingress.http_limits import HttpLimits
from gateway.model.errors import ConfigError
from gateway.runtime.links import check_links
from gateway.runtime.worker import worker_mqtt

LINK = """
[[link]]
name = "a"
driver = "smpp"
routes = ["+33"]
weight = 2
"""


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        check_links(daemon_settings(load_config(_write(tmp_path, text))))
    return str(caught.value)


def test_defaults_and_values(tmp_path: Path) -> None:
    s = daemon_settings(load_config(_write(tmp_path, '[http]\nlisten = "0.0.0.0:9000"\n' + LINK)))
    assert s.http is not None
    assert (s.http.host, s.http.port) == ("0.0.0.0", 9000)  # noqa: S104 - parsed, not bound
    assert s.mqtt is None
    assert (s.batch, s.lease, s.max_in_flight) == (500, 300.0, 5000)
    [link] = s.links
    assert [(r.prefix, r.weight) for r in link.routes] == [("+33", 2)]


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[dispatcher]\nbatch = 10\nleese = 5\n").startswith(
        "gateway.toml line 5: [dispatcher] leese: unknown key"
    )


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    assert "unknown section [htp]" in error_of(tmp_path, "[htp]\nlisten = 1\n")


def test_wrong_type_names_key(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[dispatcher]\nbatch = "many"\n') == (
        "gateway.toml line 4: [dispatcher] batch: must be a whole number"
    )


@pytest.mark.parametrize("listen", ["8080", "host:", "host:99999"])
def test_bad_listen_address(tmp_path: Path, listen: str) -> None:
    assert "[http] listen" in error_of(tmp_path, f'[http]\nlisten = "{listen}"\n')


def test_driver_errors_point_at_their_link_table(tmp_path: Path) -> None:
    message = error_of(tmp_path, LINK + "window = 0\n")
    assert message.startswith("gateway.toml line 4: link 'a': window")


def test_duplicate_link_names_are_refused(tmp_path: Path) -> None:
    assert "used twice" in error_of(tmp_path, LINK + LINK)


def test_unknown_driver_is_refused(tmp_path: Path) -> None:
    assert "driver" in error_of(tmp_path, '[[link]]\nname = "x"\ndriver = "http"\n')


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text('[store]\nurl = "sqlite:gw.db"\n' + text, encoding="utf-8")
    return path


def test_http_limits_default_and_are_read(tmp_path: Path) -> None:
    s = daemon_settings(load_config(_write(tmp_path, "[http]\n" + LINK)))
    assert s.http is not None
    assert s.http.limits == HttpLimits(
        max_connections=512, header_timeout=10, body_timeout=30, keepalive_timeout=15
    )
    s = daemon_settings(
        load_config(
            _write(
                tmp_path,
                (
                    "[http]\nmax_connections = 64\nheader_timeout = 2.5\nbody_timeout = 5\n"
                    "keepalive_timeout = 1\n"
                )
                + LINK,
            )
        )
    )
    assert s.http is not None
    assert s.http.limits == HttpLimits(
        max_connections=64, header_timeout=2.5, body_timeout=5, keepalive_timeout=1
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("max_connections = 0", "[http] max_connections: 0: at least 1"),
        ("header_timeout = 0", "[http] header_timeout: 0: seconds, more than 0"),
        ("body_timeout = -1", "[http] body_timeout: -1: seconds"),
        ("keepalive_timeout = inf", "[http] keepalive_timeout: inf: seconds"),
        (
            'keepalive_timeout = "15s"',
            "[http] keepalive_timeout: must be a whole number or a number",
        ),
    ],
)
def test_bad_http_limits_name_the_key(tmp_path: Path, line: str, words: str) -> None:
    assert words in error_of(tmp_path, f"[http]\n{line}\n")


def test_workers_default_to_none_and_take_a_count(tmp_path: Path) -> None:
    assert daemon_settings(load_config(_write(tmp_path, "[http]\n" + LINK))).workers == 0
    s = daemon_settings(load_config(_write(tmp_path, "[workers]\ncount = 2\n" + LINK)))
    assert s.workers == 2


@pytest.mark.parametrize("count", ["-1", "65", '"two"'])
def test_bad_worker_count_names_the_key(tmp_path: Path, count: str) -> None:
    assert "[workers] count" in error_of(tmp_path, f"[workers]\ncount = {count}\n")


@pytest.mark.parametrize(
    ("workers", "shared", "expected"),
    [
        (1, "", [("gw", None)]),
        (2, "", [("gw", "smsgw"), ("gw-1", "smsgw")]),
        (3, 'shared_group = "fleet"\n', [("gw", "fleet"), ("gw-1", "fleet"), ("gw-2", "fleet")]),
    ],
)
def test_each_worker_has_its_mqtt_session_and_several_share_the_sends(
    tmp_path: Path,
    workers: int,
    shared: str,
    expected: list[tuple[str, str | None]],
) -> None:
    text = (
        f'[workers]\ncount = {workers}\n[mqtt]\nurl = "mqtt://127.0.0.1"\n'
        f'client_id = "gw"\n{shared}' + LINK
    )
    settings = daemon_settings(load_config(_write(tmp_path, text)))
    sessions = [worker_mqtt(settings, i) for i in range(workers)]
    assert [(m.client_id, m.shared_group) for m in sessions if m] == expected


def test_webhook_receivers_are_public_unless_allowed(tmp_path: Path) -> None:
    default = daemon_settings(load_config(_write(tmp_path, LINK)))
    assert default.callbacks.refusal("http://10.0.0.1/h") is not None
    allowed = daemon_settings(
        load_config(
            _write(tmp_path, '[webhooks]\nallow = ["10.0.0.0/8", "hooks.internal"]\n' + LINK)
        )
    )
    assert allowed.callbacks.refusal("http://10.0.0.1/h") is None
    assert allowed.callbacks.host_allowed("hooks.internal")
    assert error_of(tmp_path, '[webhooks]\nallow = ["10.0.0.0/40"]\n').startswith(
        "gateway.toml line 4: [webhooks] allow: '10.0.0.0/40' is neither a network"
    )
    assert "must be a list" in error_of(tmp_path, '[webhooks]\nallow = "10.0.0.0/8"\n')


def test_console_is_off_without_its_section_and_takes_its_keys(tmp_path: Path) -> None:
    assert daemon_settings(load_config(_write(tmp_path, "[http]\n" + LINK))).console is None
    s = daemon_settings(load_config(_write(tmp_path, "[http]\n[console]\n" + LINK)))
    assert s.console == ConsoleSettings(
        path="/console", max_failures=5, lock_seconds=900, session_seconds=43200
    )
    text = (
        '[http]\n[console]\npath = "/web/console"\nmax_failures = 3\nlock_seconds = 60\n'
        "session_seconds = 3600.5\n"
    )
    s = daemon_settings(load_config(_write(tmp_path, text + LINK)))
    assert s.console == ConsoleSettings(
        path="/web/console", max_failures=3, lock_seconds=60, session_seconds=3600.5
    )


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ('[http]\n[console]\npath = "/"', "[console] path: '/': a path such as /console"),
        ('[http]\n[console]\npath = "console"', "[console] path"),
        ("[http]\n[console]\nmax_failures = 0", "[console] max_failures: 0: at least 1"),
        ("[http]\n[console]\nlock_seconds = 0", "[console] lock_seconds: 0: seconds"),
        ("[http]\n[console]\nsession_seconds = inf", "[console] session_seconds: inf"),
        ("[console]\n", "[console] path: the console is served by [http]"),
        ("[http]\n[console]\ntheme = 1", "[console] theme: unknown key"),
    ],
)
def test_bad_console_keys_name_the_key(tmp_path: Path, lines: str, words: str) -> None:
    assert words in error_of(tmp_path, lines + "\n")


SMPP_SERVER = '[smpp_server]\nlisten = "127.0.0.1:0"\n'


def test_esme_delivery_ttl_defaults_with_smpp_server_and_is_read(tmp_path: Path) -> None:
    assert daemon_settings(load_config(_write(tmp_path, LINK))).esme_delivery_ttl is None
    s = daemon_settings(
        load_config(_write(tmp_path, '[smpp_server]\nlisten = "127.0.0.1:0"\n' + LINK))
    )
    assert s.esme_delivery_ttl == 72 * 3600
    s = daemon_settings(
        load_config(
            _write(tmp_path, '[smpp_server]\nlisten = "127.0.0.1:0"\ndelivery_ttl = 600\n' + LINK)
        )
    )
    assert s.esme_delivery_ttl == 600


@pytest.mark.parametrize("value", ["0", "-5", '"3d"'])
def test_bad_esme_delivery_ttl_names_the_key(tmp_path: Path, value: str) -> None:
    assert "[smpp_server] delivery_ttl" in error_of(
        tmp_path, f'[smpp_server]\nlisten = "127.0.0.1:0"\ndelivery_ttl = {value}\n'
    )
