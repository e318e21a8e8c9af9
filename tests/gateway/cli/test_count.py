"""``smsgw count``."""

from __future__ import annotations

import json

import pytest

from gateway.runtime.commands import main


def test_count_json_reports_analysis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--json", "Hello €"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "encoding": "gsm7",
        "characters": 7,
        "units": 8,
        "segments": 1,
        "remaining": 152,
        "per_segment": 160,
        "locking_shift": None,
        "single_shift": None,
    }


def test_count_table_for_humans(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "я" * 71]) == 0
    out = capsys.readouterr().out
    assert "ucs2" in out
    assert "segments         2" in out


def test_count_with_national_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--json", "--national", "tr,es", "Çok güzel şey ığ " * 10]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["encoding"], doc["segments"], doc["single_shift"]) == ("gsm7", 2, "tr")


def test_count_unknown_language_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--national", "xx", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smsgw: unknown national language")
    assert err.count("\n") == 1


def test_count_too_long_is_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "a" * 100_000]) == 1
    assert "segments; the limit is 255" in capsys.readouterr().err
