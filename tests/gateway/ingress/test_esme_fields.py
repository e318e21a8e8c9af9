"""A submit_sm's fields read for the send pipeline: addresses, SMPP times, priority."""

from __future__ import annotations

import calendar

import pytest

from gateway.ingress import esme_fields as f
from gateway.model.errors import InvalidRecipient
from gateway.model.esme_ingress import (
    BadPriority,
    BadSchedule,
    BadValidity,
    EsmeSubmit,
    UnsupportedDestination,
)

NOW = float(calendar.timegm((2026, 3, 15, 12, 0, 0, 0, 0, 0)))


def submit(**kw: object) -> EsmeSubmit:
    fields: dict[str, object] = {
        "source_ton": 5,
        "source_npi": 0,
        "source": "ACME",
        "dest_ton": 1,
        "dest_npi": 1,
        "destination": "33612345678",
    }
    fields.update(kw)
    return EsmeSubmit(**fields)  # type: ignore[arg-type]


def test_destination_international_with_or_without_plus() -> None:
    assert f.destination_of(submit()) == "+33612345678"
    assert f.destination_of(submit(destination="+33612345678")) == "+33612345678"
    with pytest.raises(UnsupportedDestination, match="TON 2"):
        f.destination_of(submit(dest_ton=2, destination="0612345678"))
    with pytest.raises(InvalidRecipient):
        f.destination_of(submit(destination="33x"))


def test_sender_and_priority() -> None:
    assert f.sender_of(submit()) == "ACME"
    assert f.sender_of(submit(source_ton=1, source="33700000000")) == "+33700000000"
    assert f.priority_of(submit(priority_flag=3)) == 3
    with pytest.raises(BadPriority):
        f.priority_of(submit(priority_flag=4))


def test_absolute_and_relative_times() -> None:
    # 13:00 local at +04 (16 quarter hours) is 09:00 UTC
    assert f.send_at_of(submit(schedule_delivery_time="260316130000016+"), NOW) == (
        NOW + 86_400 - 3 * 3600
    )
    assert f.send_at_of(submit(schedule_delivery_time="000001020304000R"), NOW) == (
        NOW + 86_400 + 2 * 3600 + 3 * 60 + 4
    )
    assert f.send_at_of(submit(), NOW) is None
    assert f.validity_of(submit(validity_period="000000010000000R"), NOW, 10**6) == 3600
    with pytest.raises(BadSchedule):
        f.send_at_of(submit(schedule_delivery_time="tomorrow"), NOW)
    with pytest.raises(BadValidity, match="already past"):
        f.validity_of(submit(validity_period="250101000000000+"), NOW, 10**6)
    with pytest.raises(BadValidity, match="at most"):
        f.validity_of(submit(validity_period="020000000000000R"), NOW, 10**6)
