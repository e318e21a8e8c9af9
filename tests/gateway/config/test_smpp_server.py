"""``[smpp_server]``: listeners, TLS key as a secret, bind settings, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.daemon import daemon_settings
from gateway.config.file import load_config
from gateway.config.smpp_server import KEYS
from gateway.model.errors import ConfigError
from gateway.runtime.smpp_server import server_settings


def test_absent_means_no_smpp_ingress(tmp_path: Path) -> None:
    s = daemon_settings(load_config(_write(tmp_path, "[dispatcher]\nbatch = 10\n")))
    assert s.smpp_server is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_listeners_tls_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGW_TEST_TLS_KEY", "-----BEGIN PRIVATE KEY-----")
    text = (
        "[smpp_server]\n"
        'listen = ["127.0.0.1:2775", "[::1]:2776"]\n'
        'tls_listen = "0.0.0.0:3550"\n'
        'tls_cert = "/etc/smsgw/tls.crt"\n'
        'tls_key = "env:SMSGW_TEST_TLS_KEY"\n'
        "window = 10\ninactivity_timeout = 60\n"
    )
    s = daemon_settings(load_config(_write(tmp_path, text)))
    c = s.smpp_server
    assert c is not None
    assert c.listen == (("127.0.0.1", 2775), ("::1", 2776))
    assert c.tls_listen == (("0.0.0.0", 3550),)  # noqa: S104 - parsed, not bound
    assert c.tls_key is not None
    assert c.tls_key.reveal() == "-----BEGIN PRIVATE KEY-----"
    assert "BEGIN" not in repr(c)
    assert (c.window, c.inactivity_timeout, c.system_id) == (10, 60.0, "smsgw")


def test_the_bind_limits_reach_the_server(tmp_path: Path) -> None:
    text = (
        '[smpp_server]\nlisten = "127.0.0.1:0"\n'
        "bind_timeout = 5\nfailed_binds = 3\nfailed_bind_period = 120\n"
    )
    c = daemon_settings(load_config(_write(tmp_path, text))).smpp_server
    assert c is not None
    server = server_settings(c)
    assert (server.bind_timeout, server.failed_binds, server.failed_bind_period) == (
        5.0,
        3,
        120.0,
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("window = 2\n", "[smpp_server] listen: missing"),
        ('listen = "2775"\n', "[smpp_server] listen: '2775' is not HOST:PORT"),
        ('listen = ":1"\nwindow = 0\n', "[smpp_server] window: a whole number, 1 to 10000"),
        ('listen = ":1"\ninactivity_timeout = -1\n', "[smpp_server] inactivity_timeout: seconds"),
        ('listen = ":1"\nfailed_binds = 0\n', "[smpp_server] failed_binds: a whole number, 1 to"),
        ('listen = ":1"\nbind_timeout = "30"\n', "[smpp_server] bind_timeout: seconds"),
        ('tls_listen = ":1"\n', "[smpp_server] tls_listen: needs tls_cert"),
        ('listen = ":1"\nlisen = 2\n', "[smpp_server] lisen: unknown key"),
        (
            'tls_listen = ":1"\ntls_cert = "c"\ntls_key = "env:SMSGW_TEST_NO_SUCH"\n',
            "[smpp_server] tls_key: environment variable SMSGW_TEST_NO_SUCH is not set",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        daemon_settings(load_config(_write(tmp_path, "[smpp_server]\n" + text)))
    assert words in str(caught.value)


def test_every_key_is_in_the_example_config() -> None:
    example = (Path(__file__).resolve().parents[3] / "config" / "gateway.example.toml").read_text(
        encoding="utf-8"
    )
    assert sorted(k for k in KEYS if f"# {k} = " not in example) == []
