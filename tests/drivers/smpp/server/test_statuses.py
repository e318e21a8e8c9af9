"""The refusal table: first match wins, README lists every row, nothing unexpected leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.smpp.protocol import status as st
from drivers.smpp.server.statuses import REFUSALS, bind_status_for, status_for
from gateway.model import errors as e
from gateway.model import esme_ingress as ei

README = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ei.UnknownSystemId("x"), st.ESME_RINVSYSID),
        (ei.WrongPassword("x"), st.ESME_RINVPASWD),
        (ei.UnknownMessage("x"), st.ESME_RINVMSGID),
        (e.InsufficientCredit("acme", 0, 1), st.ESME_RSUBMITFAIL),
        (e.SenderNotAllowed("x"), st.ESME_RINVSRCADR),
        (e.TextTooLong(300), st.ESME_RINVMSGLEN),
        (ei.UnsupportedEsmClass("x"), st.ESME_RINVESMCLASS),
        (ei.BadSar("x"), st.ESME_RINVOPTPARAMVAL),
        (ei.UnsupportedDataCoding("x"), st.ESME_RINVDCS),
        (e.DecodeError("x"), st.ESME_RINVMSGLEN),
        (ei.UnsupportedSubmit("x"), st.ESME_RSUBMITFAIL),
        (RuntimeError("a bug"), st.ESME_RSYSERR),
    ],
)
def test_status_for(error: Exception, status: int) -> None:
    assert status_for(error) == status


def test_a_store_outage_refuses_binds_with_bindfail() -> None:
    assert status_for(e.StoreUnavailable("down")) == st.ESME_RSYSERR
    assert bind_status_for(e.StoreUnavailable("down")) == st.ESME_RBINDFAIL
    assert bind_status_for(ei.WrongPassword("x")) == st.ESME_RINVPASWD


def test_subclasses_come_before_their_bases() -> None:
    kinds = [kind for kind, _, _ in REFUSALS]
    for i, kind in enumerate(kinds):
        for later in kinds[i + 1 :]:
            assert not issubclass(later, kind), f"{later.__name__} after its base {kind.__name__}"


@pytest.mark.parametrize(
    ("kind", "status", "text"), REFUSALS, ids=lambda v: getattr(v, "__name__", "")
)
def test_readme_lists_every_row(kind: type, status: int, text: str) -> None:
    assert f"| {st.status_name(status)} | 0x{status:08X} | {text} |" in README
