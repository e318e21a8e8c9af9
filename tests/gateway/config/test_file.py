"""Reading gateway.toml: store and ledger keys, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.file import load_config, parse_config
from gateway.model.errors import ConfigError, ConfigErrors

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_and_other_sections_kept_raw(tmp_path: Path) -> None:
    cfg = parse_config(
        '[http]\nlisten = "127.0.0.1:8080"\n[[link]]\nname = "a"\n', path=tmp_path / "gateway.toml"
    )
    assert cfg.store.url == "sqlite:../var/gateway.db"
    assert (cfg.store.synchronous, cfg.ledger.min_topup) == ("full", 100)
    assert cfg.raw["http"]["listen"] == "127.0.0.1:8080"
    assert cfg.raw["link"][0]["name"] == "a"
    assert cfg.base_dir == tmp_path
    assert cfg.stoplist.words == {"stop", "arret", "unsubscribe", "stopall"}


def test_stoplist_keywords_replace_the_defaults(tmp_path: Path) -> None:
    cfg = parse_config('[stoplist]\nkeywords = [" Fin ", "HALT"]\n', path=tmp_path / "g.toml")
    assert cfg.stoplist.keywords == ("Fin", "HALT")
    assert cfg.stoplist.words == {"fin", "halt"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[store]\nurl = 5\n", "gateway.toml line 2: [store] url: must be a string"),
        ('[store]\nurl = "mysql://x"\n', "line 2: [store] url: 'mysql://x' is not sqlite:PATH"),
        ('[store]\nurl = "postgresql://db"\n', "name the host and the database"),
        (
            '[store]\nurl = "postgresql://gw:pw@db/smsgw"\n',
            "the password does not belong in the URL",
        ),
        (
            '[store]\nurl = "postgresql://gw@db/smsgw"\npassword = "env:SMSGW_TEST_NO_SUCH"\n',
            "line 3: [store] password: environment variable SMSGW_TEST_NO_SUCH is not set",
        ),
        ('[store]\nurl = "sqlite://host/gw.db"\n', "use sqlite:///absolute/path"),
        ('[store]\nurl = "sqlite:"\n', "the database path is missing"),
        ('[store]\nsynchronous = "off"\n', "[store] synchronous: must be one of full, normal"),
        ("[ledger]\nmin_topup = 0\n", "[ledger] min_topup: must be at least 1"),
        ('[ledger]\nmin_topup = "100"\n', "[ledger] min_topup: must be a whole number"),
        ('[stoplist]\nkeywords = "STOP"\n', "[stoplist] keywords: must be a list of strings"),
        ('[stoplist]\nkeywords = ["STOP", " "]\n', "[stoplist] keywords: each keyword: 1 to"),
        ("store = 3\n", "[store] must be a table"),
        ("[store\n", "gateway.toml: not valid TOML"),
    ],
)
def test_errors_name_file_and_key(text: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=tmp_path / "gateway.toml")
    assert match in str(info.value)


def test_a_postgresql_store_with_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSGW_TEST_DB_PASSWORD", "s3cret")
    cfg = parse_config(
        '[store]\nurl = "postgresql://smsgw@db1:5433/smsgw"\n'
        'password = "env:SMSGW_TEST_DB_PASSWORD"\n',
        path=tmp_path / "gateway.toml",
    )
    assert cfg.store.postgres
    assert cfg.store.password is not None
    assert cfg.store.password.reveal() == "s3cret"
    assert "s3cret" not in repr(cfg)
    default = parse_config('[store]\nurl = "sqlite:gw.db"\n', path=tmp_path / "gateway.toml")
    assert not default.store.postgres


def test_every_problem_is_raised_at_once_each_with_its_line(tmp_path: Path) -> None:
    text = '[store]\nurl = 5\nsynchronous = "off"\n\n[ledger]\nmin_topup = 0\n'
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, path=tmp_path / "gateway.toml")
    assert info.value.problems == (
        "gateway.toml line 2: [store] url: must be a string",
        "gateway.toml line 3: [store] synchronous: must be one of full, normal",
        "gateway.toml line 6: [ledger] min_topup: must be at least 1",
    )
    assert str(info.value) == (
        "gateway.toml line 2: [store] url: must be a string (and 2 "
        "more: `smsgw check-config` lists them)"
    )


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found: copy config/gateway\.example\.toml"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", ["gateway.toml", "gateway.example.toml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "config" / name)
    assert cfg.store.url.startswith("sqlite:")
    assert cfg.ledger.min_topup == 100
