"""ModemLinkConfig from a [[link]] table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.modem.link.config import ModemLinkConfig
from gateway.model.errors import ConfigError


def test_defaults_and_env_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEM1_PIN", "4821")
    cfg = ModemLinkConfig.from_table(
        {
            "name": "modem-1",
            "driver": "modem",
            "device": "/dev/ttyUSB0",
            "pin": "env:MODEM1_PIN",
            "routes": ["*"],
        }
    )
    assert cfg.pin is not None
    assert cfg.pin.reveal() == "4821"
    assert "4821" not in repr(cfg)
    assert cfg.baudrate == 115200
    assert cfg.rate == 20.0
    assert cfg.concat == "udh8"
    assert cfg.smsc is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"device": "/dev/x"}, "'name' is required"),
        ({"name": "m"}, "'device' is required"),
        ({"name": "m", "device": "/dev/x", "baud": 9600}, "unknown key 'baud'"),
        ({"name": "m", "device": "/dev/x", "rate": -1}, "'rate'"),
        ({"name": "m", "device": "/dev/x", "baudrate": "fast"}, "'baudrate'"),
        ({"name": "m", "device": "/dev/x", "concat": "sar"}, "'concat'"),
        ({"name": "m", "device": "/dev/x", "storage": "XX"}, "'storage'"),
        ({"name": "m", "device": "/dev/x", "smsc": "operator"}, "'smsc'"),
        ({"name": "m", "device": "/dev/x", "pin": "12"}, "4 to 8 digits"),
        ({"name": "m", "device": "/dev/x", "pin": "env:NO_SUCH_PIN_VAR"}, "NO_SUCH_PIN_VAR"),
        ({"name": "m", "device": "/dev/x", "driver": "smpp"}, "'driver'"),
    ],
)
def test_errors_name_the_link_and_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModemLinkConfig.from_table(table)


def test_short_pin_error_does_not_show_the_pin() -> None:
    with pytest.raises(ConfigError) as info:
        ModemLinkConfig.from_table({"name": "m", "device": "/dev/x", "pin": "987"})
    assert "987" not in str(info.value)


def test_every_key(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("123456\n")
    cfg = ModemLinkConfig.from_table(
        {
            "name": "m",
            "driver": "modem",
            "device": "/dev/ttyUSB1",
            "baudrate": 9600,
            "pin": f"file:{pin_file}",
            "routes": ["+33", "+32"],
            "smsc": "+33609001390",
            "rate": 6,
            "burst": 2,
            "command_timeout": 3,
            "send_timeout": 90,
            "receipt_window": 86400,
            "poll_interval": 15,
            "storage": "ME",
            "concat": "udh16",
            "registration_timeout": 30,
            "sim_busy_retries": 4,
            "reopen_after": 3,
            "number": "+33612345678",
        }
    )
    assert cfg.pin is not None
    assert cfg.pin.reveal() == "123456"
    assert cfg.pin.source == f"file:{pin_file}"
    assert (cfg.baudrate, cfg.routes, cfg.smsc, cfg.rate, cfg.burst) == (
        9600,
        ("+33", "+32"),
        "+33609001390",
        6.0,
        2,
    )
    assert (cfg.command_timeout, cfg.send_timeout, cfg.receipt_window) == (3.0, 90.0, 86400.0)
    assert (cfg.poll_interval, cfg.storage, cfg.concat) == (15.0, "ME", "udh16")
    assert (cfg.registration_timeout, cfg.sim_busy_retries, cfg.reopen_after) == (30.0, 4, 3)
    assert cfg.number == "+33612345678"
