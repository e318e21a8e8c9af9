"""The ``[console]`` section's settings."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PATH = "/console"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    path: str = DEFAULT_PATH  # where the pages are mounted on the HTTP server
    max_failures: int = 5  # wrong passwords in a row before a login is locked
    lock_seconds: float = 900.0  # how long it stays locked
    session_seconds: float = 12 * 3600.0  # a session ends this long after logging in
