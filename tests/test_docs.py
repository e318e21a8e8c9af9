"""README and the example configuration document every link key, and the
README's commands run on a stock Debian machine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.modem.link.config import KNOWN_KEYS as MODEM_KEYS
from drivers.smpp.link.config import KNOWN_KEYS as SMPP_KEYS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = (ROOT / "config" / "gateway.example.toml").read_text(encoding="utf-8")


def _table_keys(text: str) -> set[str]:
    """Keys named in the first cell of README's table rows (``| a, b | ...``)."""
    keys: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| "):
            keys.update(k.strip(" `") for k in line.split("|")[1].split(","))
    return keys


def _example_keys(text: str) -> set[str]:
    """Keys set (or shown commented out) in the example configuration."""
    return set(re.findall(r"^#? ?([a-z_]+) *=", text, flags=re.MULTILINE))


# keys every driver shares, documented once in README's `[[link]]` row
COMMON = frozenset({"name", "driver"})


@pytest.mark.parametrize("keys", [SMPP_KEYS, MODEM_KEYS], ids=["smpp", "modem"])
def test_every_link_key_is_in_readme_and_example_config(keys: frozenset[str]) -> None:
    assert sorted(keys - COMMON - _table_keys(README)) == []
    assert sorted(keys - _example_keys(EXAMPLE)) == []


def test_readme_commands_need_no_netcat() -> None:
    assert not re.search(r"\|\s*nc\b", README)
