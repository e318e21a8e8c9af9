"""[[link]] tables with driver = "smpp"."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.protocol.states import BindMode
from drivers.smpp.protocol.status import ESME_RTHROTTLED, ESME_RX_P_APPN, Disposition
from gateway.model.errors import ConfigError
from gateway.model.message import SenderKind


def table(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "operator-a",
        "driver": "smpp",
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "gw",
        "password": "pw",
        **overrides,
    }


def test_defaults() -> None:
    c = SmppLinkConfig.from_table(table())
    assert (c.bind, c.window, c.throughput, c.concat) == (BindMode.TRANSCEIVER, 64, 0.0, "udh8")
    assert (c.enquire_link, c.response_timeout, c.tls) == (30.0, 30.0, False)
    assert c.source_ton[SenderKind.SHORTCODE] == 3
    assert c.password.reveal() == "pw"
    assert "pw" not in repr(c)


def test_every_key_is_read() -> None:
    c = SmppLinkConfig.from_table(
        table(
            bind="transmitter",
            window=10,
            throughput=200,
            concat="sar",
            routes=["+33", "*"],
            tls=True,
            tls_ca="/etc/ca.pem",
            enquire_link=15,
            response_timeout=5,
            reconnect_min=2,
            reconnect_max=30,
            source_ton={"shortcode": 6},
            source_npi={"alpha": 9},
            receipt_id="hex",
            receipt_id_text="decimal",
            status_map={"ESME_RX_P_APPN": "retry", "0x00000058": "permanent"},
            country="gb",
        )
    )
    assert (c.bind, c.window, c.throughput, c.concat) == (BindMode.TRANSMITTER, 10, 200.0, "sar")
    assert c.routes == ("+33", "*")
    assert (c.tls, c.tls_ca) == (True, "/etc/ca.pem")
    assert c.source_ton[SenderKind.SHORTCODE] == 6
    assert c.source_npi[SenderKind.ALPHA] == 9
    assert (c.receipt_id, c.receipt_id_text) == ("hex", "decimal")
    assert c.status_map == {
        ESME_RX_P_APPN: Disposition.RETRY,
        ESME_RTHROTTLED: Disposition.PERMANENT,
    }
    assert c.country == "GB"


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMPP_A_PASSWORD", "s3cret")
    c = SmppLinkConfig.from_table(table(password="env:SMPP_A_PASSWORD"))
    assert c.password.reveal() == "s3cret"
    assert "s3cret" not in repr(c)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"window": 0}, "link 'operator-a': window: must be an integer 1..1000"),
        ({"window": "64"}, "window: must be an integer"),
        ({"bind": "both"}, "bind: must be one of transmitter, receiver, transceiver"),
        ({"concat": "udh7"}, "concat: must be one of udh8, udh16, sar, payload"),
        ({"throughput": -1}, "throughput: must be a number"),
        ({"system_id": "x" * 16}, "system_id: must be at most 15 characters"),
        ({"password": "123456789"}, "password: must be at most 8"),
        ({"receipt_id": "octal"}, "receipt_id: must be one of as-is, hex, decimal"),
        ({"status_map": {"ESME_NOPE": "retry"}}, "status_map: unknown command_status"),
        ({"status_map": {"ESME_RSYSERR": "later"}}, "status_map: ESME_RSYSERR: must be one of"),
        ({"source_ton": {"robot": 1}}, "source_ton: 'robot' is not alpha"),
        ({"routes": "+33"}, "routes: must be a list"),
        ({"windw": 3}, "windw: unknown key"),
        ({"country": "UK"}, 'country: must be a country code such as "GB"'),
        ({"country": 44}, "country: must be a country code"),
        ({"password": "env:SMSGW_TEST_UNSET_VAR"}, "environment variable SMSGW_TEST_UNSET_VAR"),
    ],
)
def test_errors_name_link_and_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        SmppLinkConfig.from_table(table(**overrides))


def test_missing_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="name"):
        SmppLinkConfig.from_table({"driver": "smpp"})
