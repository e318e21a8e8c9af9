"""Logging setup: redaction, text at debug only, JSON vs console rendering."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.model.errors import ConfigError
from gateway.ops.logs import (
    REDACTED,
    configure_logging,
    debug_enabled,
    drop_text_below_debug,
    get_logger,
    is_secret_key,
    redact_secrets,
    wants_json,
)


class TtyStream(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "smpp_password",
        "PIN",
        "modem-pin",
        "Authorization",
        "api_token",
        "client_secret",
        "X-Api-Token",
        "systempassword",
    ],
)
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["ping", "mapping", "spinner", "text", "link", "account"])
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_redaction_reaches_nested_headers_and_lists() -> None:
    event = {
        "event": "webhook_sent",
        "password": "hunter2",
        "headers": {"Authorization": "Bearer abc", "Content-Type": "application/json"},
        "links": [{"name": "op-a", "smpp_password": "pw"}],
    }
    out = redact_secrets(None, "info", event)
    assert out["password"] == REDACTED
    assert out["headers"] == {"Authorization": REDACTED, "Content-Type": "application/json"}
    assert out["links"] == [{"name": "op-a", "smpp_password": REDACTED}]


def test_text_is_replaced_by_its_length_at_info() -> None:
    out = drop_text_below_debug(None, "info", {"event": "message_accepted", "text": "héllo"})
    assert "text" not in out
    assert out["text_chars"] == 5


def test_text_is_kept_at_debug() -> None:
    out = drop_text_below_debug(None, "debug", {"event": "segment_encoded", "text": "hello"})
    assert out["text"] == "hello"


def test_json_lines_carry_iso_timestamp_level_and_no_secret() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    get_logger("smsgw.test", link="op-a").info(
        "message_accepted",
        account="acme",
        text="secret plans",
        pin="1234",
    )
    raw = stream.getvalue()
    assert "secret plans" not in raw
    assert "1234" not in raw
    [line] = lines(stream)
    assert line["event"] == "message_accepted"
    assert line["level"] == "info"
    assert line["link"] == "op-a"
    assert line["logger"] == "smsgw.test"
    assert line["pin"] == REDACTED
    assert line["text_chars"] == 12
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.tzinfo is not None
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_debug_level_lets_text_through_in_json() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="debug", stream=stream)
    get_logger().debug("segment_encoded", text="hello")
    assert lines(stream)[0]["text"] == "hello"


def test_events_below_the_level_are_dropped() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="warning", stream=stream)
    log = get_logger()
    log.info("smpp_bound")
    log.warning("smpp_unbound")
    assert [line["event"] for line in lines(stream)] == ["smpp_unbound"]


def test_exceptions_are_structured_in_json() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger().exception("dispatch_failed")
    [line] = lines(stream)
    assert line["level"] == "error"
    assert line["exception"][0]["exc_type"] == "ValueError"


def test_standard_library_records_are_rendered_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    logging.getLogger("aiohttp.access").warning(
        "request %s",
        "/v1/messages",
        extra={"authorization": "Bearer abc"},
    )
    [line] = lines(stream)
    assert line["event"] == "request /v1/messages"
    assert line["logger"] == "aiohttp.access"
    assert line["authorization"] == REDACTED


def test_reconfiguring_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=True, stream=first)
    configure_logging(json=True, stream=second)
    get_logger().info("daemon_started")
    assert first.getvalue() == ""
    assert lines(second)[0]["event"] == "daemon_started"


@pytest.mark.parametrize("variable", ["JOURNAL_STREAM", "INVOCATION_ID"])
def test_json_is_chosen_under_systemd_even_on_a_tty(variable: str) -> None:
    assert wants_json(TtyStream(), {variable: "8:1234"})


def test_json_is_chosen_when_output_is_not_a_terminal() -> None:
    assert wants_json(io.StringIO(), {})


def test_console_rendering_on_a_terminal() -> None:
    stream = TtyStream()
    configure_logging(stream=stream, environ={})
    get_logger().info("smpp_bound", link="op-a")
    out = stream.getvalue()
    assert "smpp_bound" in out
    assert "op-a" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="log level 'verbose'"):
        configure_logging(level="verbose", stream=io.StringIO())


def test_capture_logs_sees_bound_context_and_level_filter() -> None:
    configure_logging(json=True, stream=io.StringIO())
    log = get_logger(link="op-a")
    with capture_logs() as logs:
        log.debug("window_checked")
        log.info("smpp_bound", system_id="gw")
    assert logs == [
        {"event": "smpp_bound", "link": "op-a", "system_id": "gw", "log_level": "info"},
    ]


def test_capture_logs_with_the_redaction_processors() -> None:
    configure_logging(json=True, stream=io.StringIO())
    with capture_logs(processors=[redact_secrets, drop_text_below_debug]) as logs:
        get_logger().info("token_created", token="abc", text="hi")
    assert logs == [
        {"event": "token_created", "token": REDACTED, "text_chars": 2, "log_level": "info"},
    ]


@pytest.mark.parametrize(("level", "expected"), [("debug", True), ("info", False)])
def test_debug_enabled_follows_the_configured_level(level: str, expected: bool) -> None:
    configure_logging(json=True, level=level, stream=io.StringIO())
    assert debug_enabled(get_logger("smsgw")) is expected


def test_a_logger_that_cannot_tell_is_taken_as_writing_debug_lines() -> None:
    assert debug_enabled(object()) is True
