"""Every exponential back-off is capped: thousands of failures in a row overflow none."""

from __future__ import annotations

import math
import random

import pytest

from drivers.smpp.link.driver import reconnect_delay
from gateway.dispatch.outcomes import RECORD_RETRY_MAX, record_retry_delay
from gateway.runtime.supervisor import RESTART_MAX, restart_delay


@pytest.mark.parametrize("failures", [0, 1, 10, 1023, 1024, 1100, 5000])
def test_smpp_reconnect_delay_is_finite_and_capped(failures: int) -> None:
    delay = reconnect_delay(failures, low=1.0, high=60.0, rng=random.Random(1))
    assert math.isfinite(delay)
    assert 0.5 <= delay <= 60.0


def test_smpp_reconnect_delay_reaches_its_cap_from_the_smallest_settings() -> None:
    delay = reconnect_delay(5000, low=0.01, high=86400.0, rng=random.Random(1))
    assert 43200.0 <= delay <= 86400.0


@pytest.mark.parametrize("failures", [1, 1024, 5000])
def test_outcome_recording_retry_delay_is_finite_and_capped(failures: int) -> None:
    assert 0.1 <= record_retry_delay(failures) <= RECORD_RETRY_MAX
    assert record_retry_delay(5000) == RECORD_RETRY_MAX


@pytest.mark.parametrize("failures", [1, 1024, 5000])
def test_link_restart_delay_is_finite_and_capped(failures: int) -> None:
    delay = restart_delay(failures, rng=random.Random(1))
    assert math.isfinite(delay)
    assert 0 < delay <= RESTART_MAX
