"""The command_status table."""

from __future__ import annotations

import pytest

from drivers.smpp.protocol import status as st


def test_names_and_numbers() -> None:
    assert st.status_name(0x58) == "ESME_RTHROTTLED"
    assert st.status_name(0x4242) == "0x00004242"
    assert st.parse_status("ESME_RMSGQFUL") == 0x14
    assert st.parse_status("esme_rsyserr") == 0x08
    assert st.parse_status("0x00000058") == 0x58
    assert st.parse_status("88") == 0x58


def test_bad_status_text_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown command_status"):
        st.parse_status("ESME_NOPE")
    with pytest.raises(ValueError, match="out of range"):
        st.parse_status("0x1FFFFFFFF")


def test_default_dispositions() -> None:
    table = st.StatusTable()
    assert table.classify(st.ESME_RTHROTTLED) is st.Disposition.THROTTLED
    assert table.classify(st.ESME_RMSGQFUL) is st.Disposition.THROTTLED
    assert table.classify(st.ESME_RSYSERR) is st.Disposition.RETRY
    assert table.classify(st.ESME_RINVDSTADR) is st.Disposition.PERMANENT
    assert table.classify(st.ESME_RINVSRCADR) is st.Disposition.PERMANENT


def test_overrides_are_reported() -> None:
    table = st.StatusTable(
        overrides={st.ESME_RX_P_APPN: st.Disposition.RETRY, st.ESME_RSYSERR: st.Disposition.RETRY}
    )
    assert table.overrides() == {st.ESME_RX_P_APPN: st.Disposition.RETRY}
