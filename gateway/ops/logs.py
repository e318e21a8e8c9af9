"""Logging setup: structlog, JSON lines under systemd, readable on a terminal.

The daemon calls :func:`configure_logging` once, in the composition root,
before anything logs. Every event then goes through the same processors:

- ISO 8601 UTC timestamp and the level;
- :func:`redact_secrets`: values under secret-looking keys (``password``,
  ``pin``, ``token``, ``secret``, ``authorization``...) become ``[redacted]``,
  also inside nested dicts (HTTP headers);
- :func:`drop_text_below_debug`: message text (``text``) is kept only on
  debug events; other levels get its length instead, so text never reaches
  an info log.

Output is one JSON object per line when stdout goes to the journal or a file
(systemd sets ``JOURNAL_STREAM`` and ``INVOCATION_ID``), and structlog's
console rendering on a terminal. Records from the standard library's
``logging`` (aiohttp...) are rendered the same way.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from gateway.model.errors import ConfigError

LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

REDACTED = "[redacted]"

# a key is secret when one of its words is one of these
# ("smpp_password", "modem-pin", "Authorization", "api_token"), so that
# "ping" or "mapping" stay visible
SECRET_WORDS = frozenset(
    {"password", "passwd", "pin", "puk", "token", "secret", "authorization", "apikey", "cookie"},
)
TEXT_KEYS = ("text",)

_WORD = re.compile(r"[a-z0-9]+")
_HANDLER_MARK = "_smsgw_handler"


def is_secret_key(key: str) -> bool:
    """Whether a log key names a secret (by its words: ``smpp_password``, ``X-Api-Token``)."""
    lowered = key.lower()
    if lowered in SECRET_WORDS:
        return True
    words = _WORD.findall(lowered)
    return any(word in SECRET_WORDS for word in words) or "password" in lowered


def _redact(value: object, depth: int) -> object:
    if depth > 3:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item, depth + 1) for item in value]
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace the values of secret-looking keys, at any nesting depth up to 3."""
    for key, value in list(event_dict.items()):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, Mapping | list | tuple):
            event_dict[key] = _redact(value, 1)
    return event_dict


def drop_text_below_debug(
    _logger: WrappedLogger,
    method: str,
    event_dict: EventDict,
) -> EventDict:
    """Keep message text on debug events only; other levels get ``text_chars``."""
    level = event_dict.get("level", method)
    if str(level).lower() == "debug":
        return event_dict
    for key in TEXT_KEYS:
        if key in event_dict:
            text = event_dict.pop(key)
            if isinstance(text, str):
                event_dict[f"{key}_chars"] = len(text)
    return event_dict


def wants_json(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """JSON under systemd (journal or service) or when the stream is not a terminal."""
    if environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"):
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return True


def shared_processors() -> list[Processor]:
    """What every event goes through before rendering (structlog's and stdlib's)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
        drop_text_below_debug,
        structlog.processors.StackInfoRenderer(),
    ]


def renderer(*, json: bool, colors: bool = False) -> Processor:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=colors)


# tracebacks as data, without frame locals: a local can hold a token or a text
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "info",
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Set up structlog and the standard library's logging for the process.

    ``json=None`` chooses by :func:`wants_json`; ``level`` is one of
    :data:`LEVELS`; ``stream`` defaults to stdout (systemd sends it to the
    journal). Calling again replaces the previous setup.
    """
    level_no = LEVELS.get(level.lower())
    if level_no is None:
        msg = f"log level {level!r} is not one of: {', '.join(LEVELS)}"
        raise ConfigError(msg)
    out = stream if stream is not None else sys.stdout
    env = os.environ if environ is None else environ
    as_json = wants_json(out, env) if json is None else json
    colors = not as_json and _isatty(out)
    final: list[Processor] = [_TRACEBACKS] if as_json else [structlog.dev.set_exc_info]
    structlog.configure(
        processors=[
            *shared_processors(),
            *final,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared_processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([_TRACEBACKS] if as_json else []),
            renderer(json=as_json, colors=colors),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)


def get_logger(name: str | None = None, **context: Any) -> FilteringBoundLogger:
    """A logger bound to ``context`` (``link=``, ``account=``...)."""
    logger: FilteringBoundLogger = structlog.get_logger(name, **context)
    return logger


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def debug_enabled(logger: Any) -> bool:
    """Whether ``logger`` writes debug lines, for a hot path to ask once and skip its
    debug calls (and the work of their fields) when they would be dropped. The level
    is the process's, set by :func:`configure_logging` before anything is built; a
    logger that cannot tell is taken as writing them."""
    check = getattr(logger, "is_enabled_for", None)
    return True if check is None else bool(check(logging.DEBUG))
