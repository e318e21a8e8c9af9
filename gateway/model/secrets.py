"""Secret values from configuration: ``env:NAME``, ``file:/path`` or literal.

A :class:`Secret` never shows its value in ``repr``/``str``, so it cannot reach
a log line by accident; code that needs the value calls :meth:`Secret.reveal`.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.model.errors import ConfigError


class Secret:
    """A password, PIN or token read from configuration."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str = "literal") -> None:
        self._value = value
        self._source = source

    @classmethod
    def resolve(cls, spec: str, *, key: str = "secret") -> Secret:
        """Read ``env:NAME``, ``file:/path`` or a literal value."""
        if spec.startswith("env:"):
            name = spec[4:]
            value = os.environ.get(name)
            if value is None:
                msg = f"{key}: environment variable {name} is not set"
                raise ConfigError(msg)
            return cls(value, source=f"env:{name}")
        if spec.startswith("file:"):
            path = Path(spec[5:])
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                msg = f"{key}: cannot read {path}: {exc.strerror}"
                raise ConfigError(msg) from None
            return cls(value, source=f"file:{path}")
        return cls(spec)

    def reveal(self) -> str:
        """The secret value itself; never log it."""
        return self._value

    @property
    def source(self) -> str:
        """Where it came from (``env:NAME``, ``file:/path`` or ``literal``), safe to log."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret(<hidden from {self._source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
