"""Building and choosing the codec's compiled core.

The extension is optional: a machine without a C compiler still installs
smsgw (with a warning) and runs the pure-Python reference, which
``SMSGW_PURE_PYTHON=1`` also forces.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_build_without_a_compiler_warns_and_succeeds(tmp_path: Path) -> None:
    env = {**os.environ, "CC": "/bin/false"}
    done = subprocess.run(
        [
            sys.executable,
            "setup.py",
            "build_ext",
            "--build-lib",
            str(tmp_path / "lib"),
            "--build-temp",
            str(tmp_path / "tmp"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'building extension "gateway.codec._native" failed' in done.stdout + done.stderr
    assert not list((tmp_path / "lib").rglob("_native*"))


PROGRAM = (
    "import gateway.codec as c, gateway.codec.general as g;"
    "print(c.IMPLEMENTATION, c.encode is g.encode_python)"
)


def implementation(pure: str | None) -> str:
    """IMPLEMENTATION and whether encode is the reference, in a new interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "SMSGW_PURE_PYTHON"}
    if pure is not None:
        env["SMSGW_PURE_PYTHON"] = pure
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_pure_python_variable_forces_the_reference() -> None:
    assert implementation("1") == "python True"


def test_compiled_core_is_used_when_built() -> None:
    assert implementation(None) == "native False"
    assert implementation("0") == "native False"
