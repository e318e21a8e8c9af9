"""The systemd unit, sysusers.d and tmpfiles.d snippets, checked by systemd's own tools."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.ingress.http_limits import HttpLimits

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "smsgw.service"
SYSUSERS = ROOT / "systemd" / "smsgw.sysusers"
TMPFILES = ROOT / "systemd" / "smsgw.tmpfiles"

# the exposure score the unit must keep (systemd-analyze: <= 2.5 reads "OK" or better)
MAX_EXPOSURE = 2.5

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None,
    reason="systemd-analyze is not installed (Debian package: systemd)",
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def settings(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for each assignment, duplicates kept (unit files allow them)."""
    section = ""
    found = []
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in settings(UNIT) if s == section and k == key]


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # `verify` fails when ExecStart names a missing binary, and /usr/bin/smsgw
    # exists only where a package installed it. The unit as shipped is checked
    # through a copy whose ExecStart points at this checkout's console script
    # (same name, everything else byte for byte).
    smsgw = Path(sys.executable).parent / "smsgw"
    assert smsgw.exists(), f"console script missing: {smsgw} (pip install -e .)"
    text = UNIT.read_text(encoding="utf-8")
    assert "\nExecStart=/usr/bin/smsgw run\n" in text
    copy = tmp_path / "smsgw.service"
    copy.write_text(text.replace("\nExecStart=/usr/bin/smsgw run\n", f"\nExecStart={smsgw} run\n"))
    result = run(str(ANALYZE), "verify", "--man=no", str(copy))
    assert result.returncode == 0, result.stderr
    assert "smsgw.service" not in result.stderr, result.stderr


@needs_analyze
def test_unit_security_exposure_is_ok_or_better() -> None:
    threshold = str(int(MAX_EXPOSURE * 10))  # --threshold counts tenths
    result = run(
        str(ANALYZE),
        "security",
        "--offline=yes",
        f"--threshold={threshold}",
        "--no-pager",
        str(UNIT),
    )
    match = re.search(r"Overall exposure level for smsgw\.service: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    score, rating = float(match.group(1)), match.group(2)
    assert score <= MAX_EXPOSURE, f"exposure {score} {rating}"
    assert rating in {"OK", "SAFE", "PERFECT"}
    assert result.returncode == 0, result.stderr


def test_unit_is_a_watched_notify_service() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("WatchdogSec") == ["30"]
    assert values("Restart") == ["on-failure"]
    assert values("ExecStart") == ["/usr/bin/smsgw run"]
    assert values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values("Environment") == ["SMSGW_CONFIG=/etc/smsgw/gateway.toml"]
    assert values("WantedBy", "Install") == ["multi-user.target"]


def test_unit_allows_far_more_open_files_than_http_connections() -> None:
    # the default soft limit (1,024) was reached by about a thousand idle clients
    [limit] = values("LimitNOFILE")
    assert int(limit) >= 64 * HttpLimits().max_connections


def test_unit_runs_as_the_static_user_with_serial_access() -> None:
    assert values("User") == ["smsgw"]
    assert values("Group") == ["smsgw"]
    assert values("SupplementaryGroups") == ["dialout"]
    assert values("StateDirectory") == ["smsgw"]
    assert values("ConfigurationDirectory") == ["smsgw"]
    assert values("DevicePolicy") == ["closed"]
    assert "char-ttyUSB rw" in values("DeviceAllow")
    assert "char-ttyACM rw" in values("DeviceAllow")


def test_unit_sandboxing_settings() -> None:
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "no",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert values(key) == [value], key
    assert values("SystemCallFilter") == ["@system-service", "~@privileged @resources"]


def table(path: Path) -> dict[str, list[str]]:
    """/etc/passwd or /etc/group as name -> fields."""
    rows = [line.split(":") for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {row[0]: row for row in rows}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package: systemd)")
    return path


@pytest.mark.skipif(
    os.geteuid() != 0,
    reason="systemd-sysusers --root writes root-owned files: needs root",
)
def test_sysusers_and_tmpfiles_create_user_and_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    result = run(tool("systemd-sysusers"), f"--root={root}", str(SYSUSERS))
    assert result.returncode == 0, result.stderr
    passwd = table(root / "etc/passwd")
    groups = table(root / "etc/group")
    user = passwd["smsgw"]
    assert user[5] == "/var/lib/smsgw"
    assert "smsgw" in groups["dialout"][3].split(",")

    result = run(tool("systemd-tmpfiles"), f"--root={root}", "--create", str(TMPFILES))
    assert result.returncode == 0, result.stderr
    state = (root / "var/lib/smsgw").stat()
    assert stat.S_IMODE(state.st_mode) == 0o750
    assert state.st_uid == int(user[2])
    config = (root / "etc/smsgw").stat()
    assert (config.st_uid, stat.S_IMODE(config.st_mode)) == (0, 0o755)


def test_tmpfiles_modes_match_the_unit_directory_modes() -> None:
    # systemd warns when an existing directory's mode differs from the unit's
    modes = {}
    for line in TMPFILES.read_text(encoding="utf-8").splitlines():
        if line.startswith("d "):
            _, path, mode, *_ = line.split()
            modes[path] = mode
    assert modes["/var/lib/smsgw"] == values("StateDirectoryMode")[0]
    assert modes["/etc/smsgw"] == values("ConfigurationDirectoryMode")[0]
