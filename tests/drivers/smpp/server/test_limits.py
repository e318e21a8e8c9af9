"""Throughput per credential and refused binds per address, time as data."""

from __future__ import annotations

from drivers.smpp.server.limits import FailedBinds, Throughput


def test_throughput_allows_the_rate_and_refills() -> None:
    t = Throughput()
    assert [t.take("a", 2, 10.0) for _ in range(3)] == [True, True, False]
    assert t.take("b", 2, 10.0)  # another credential has its own bucket
    assert not t.take("a", 2, 10.2)
    assert t.take("a", 2, 10.5)  # half a second: one more
    assert all(t.take("a", None, 10.5) for _ in range(100))  # no limit


def test_failed_binds_block_then_forget() -> None:
    f = FailedBinds(limit=2, period=60.0)
    f.failed("192.0.2.1", 0.0)
    assert not f.blocked("192.0.2.1", 1.0)
    f.failed("192.0.2.1", 1.0)
    assert f.blocked("192.0.2.1", 2.0)
    assert not f.blocked("192.0.2.2", 2.0)
    assert not f.blocked("192.0.2.1", 61.0)  # a minute after the last failure
    f.failed("192.0.2.3", 0.0)
    f.succeeded("192.0.2.3")
    f.failed("192.0.2.3", 1.0)
    assert not f.blocked("192.0.2.3", 1.0)
