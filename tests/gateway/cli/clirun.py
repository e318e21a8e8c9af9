"""Run ``smsgw`` commands in-process against a private config and store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime.commands import main


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``cli("account", "create", "acme")`` runs ``smsgw account create acme -c CONFIG``."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.dir = tmp_path
        self.config = tmp_path / "gateway.toml"
        self.config.write_text('[store]\nurl = "sqlite:var/gw.db"\n\n[ledger]\nmin_topup = 100\n')
        self._capsys = capsys

    @property
    def db(self) -> Path:
        return self.dir / "var" / "gw.db"

    def __call__(self, *argv: str) -> Result:
        self._capsys.readouterr()
        code = main([*argv, "-c", str(self.config)])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *argv: str) -> Result:
        result = self(*argv)
        assert result.code == 0, result.err
        return result

    def fails(self, *argv: str, match: str) -> Result:
        """Exit 1 with exactly one stderr line containing ``match``."""
        result = self(*argv)
        assert result.code == 1, (result.out, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert match in lines[0], lines[0]
        assert "Traceback" not in result.err
        return result

    def ready_account(self, name: str = "acme", *, credit: int = 1000) -> None:
        """An account with credit, an approved sender ACME and a default price of 1."""
        self.ok("account", "create", name)
        if credit:
            self.ok("credit", "add", name, str(credit), "--ref", f"init-{name}")
        self.ok("sender", "add", name, "ACME")
        self.ok("sender", "approve", name, "ACME")
        self.ok("price", "set", "*", "1")
