"""Sampling the daemon with py-spy while a benchmark phase runs.

``py-spy record --format raw`` writes collapsed stacks ("f1;f2;f3 COUNT");
:func:`summarize` turns them into the functions holding the most samples,
on their own (self) and with what they call (inclusive).
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def find_py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start_recording(
    pid: int,
    *,
    seconds: float,
    output: Path,
    gil: bool = False,
    native: bool = False,
) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid``: every thread that is not idle, or (``gil``) the GIL holder only;
    ``native`` adds the C frames (the codec's compiled core, for one)."""
    exe = find_py_spy()
    if exe is None:
        return None
    return subprocess.Popen(  # noqa: S603 - py-spy from the venv, our arguments
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(output),
            # py-spy takes native stacks only while the process is stopped
            *(["--native"] if native else ["--nonblocking"]),
            *(["--gil"] if gil else []),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _short(frame: str) -> str:
    """'handle (aiohttp/web_protocol.py:512)' -> 'aiohttp/web_protocol.py:handle'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name.strip()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    samples: int  # non-idle samples, all threads
    threads: dict[str, int]  # samples of the main thread and of the others
    own: list[tuple[str, float]]  # functions by share of samples spent in their own code
    inclusive: list[tuple[str, float]]  # functions by share of samples they are on the stack
    areas: list[tuple[str, float]]  # parts of the daemon by share of samples (inclusive)


# parts of the daemon, recognised by a frame on the stack (a sample may count in several)
AREAS = (
    # the error middleware is on the stack of every request's handler (gateway/ingress/http_api.py)
    ("HTTP ingest (gateway/ingress/http_api.py)", "gateway/ingress/http_errors.py:"),
    ("MQTT ingest (gateway/ingress/mqtt_sends.py)", "gateway/ingress/mqtt_sends.py:"),
    ("dispatcher (gateway/dispatch)", "gateway/dispatch/"),
    ("send pipeline (gateway/ingress/pipeline.py)", "gateway/ingress/pipeline.py:"),
    ("API token lookup (Store.account_for_token)", "account_for_token"),
    ("receipts, replies (gateway/inbound/receiver.py)", "gateway/inbound/receiver.py:"),
    ("status events out (gateway/events/publisher.py)", "gateway/events/publisher.py:"),
    ("SMPP link (drivers/smpp)", "drivers/smpp/"),
    ("codec (gateway/codec; its C core with --profile-native)", "gateway/codec/"),
    ("MQTT client and bridge (gateway/events/mqtt*)", "gateway/events/mqtt"),
    ("aiohttp", "aiohttp/"),
    ("logging (stdlib)", "logging/__init__.py:"),
    ("logging (structlog and its processors)", "structlog/"),
    ("JSON (json)", "json/"),
    ("asyncio", "asyncio/"),
    ("SQLite writer thread (Engine._run)", "gateway/store/sqlite/engine.py:Engine._run"),
    ("SQLite statements (gateway/store/sqlite)", "gateway/store/sqlite/"),
)


def summarize(raw: Path, *, top: int = 12) -> Profile:
    """The busiest functions of a collapsed-stack file."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            _short(f)
            for f in stack.split(";")
            if f and not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += count
        threads["other" if "Thread._bootstrap" in frames[0] else "main"] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        for area, marker in AREAS:
            if any(marker in f for f in frames):
                areas[area] += count
    share = max(total, 1)
    return Profile(
        samples=total,
        threads=dict(threads),
        own=[(f, n / share) for f, n in own.most_common(top)],
        inclusive=[(f, n / share) for f, n in inclusive.most_common(top * 3)],
        areas=[(a, n / share) for a, n in areas.most_common()],
    )
