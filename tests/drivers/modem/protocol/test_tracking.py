"""Token bucket and status-report matching, on a clock the test moves."""

from __future__ import annotations

from drivers.modem.protocol.tpdu import StatusReport
from drivers.modem.protocol.tracking import ReceiptMatcher, TokenBucket


def test_bucket_spaces_sends_by_the_rate() -> None:
    bucket = TokenBucket(per_minute=20)
    assert bucket.delay(0.0) == 0.0
    bucket.take(0.0)
    assert bucket.delay(0.0) == 3.0
    assert bucket.delay(2.0) == 1.0
    assert bucket.delay(3.0) == 0.0


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(per_minute=60, burst=3)
    for _ in range(3):
        assert bucket.delay(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.delay(0.0) == 1.0


def test_rate_zero_means_no_limit() -> None:
    bucket = TokenBucket(per_minute=0)
    for _ in range(100):
        bucket.take(0.0)
    assert bucket.delay(0.0) == 0.0


def _report(reference: int, recipient: str) -> StatusReport:
    return StatusReport(reference=reference, recipient=recipient, scts=0.0, discharge=0.0, status=0)


def test_report_matches_reference_and_recipient_in_any_number_format() -> None:
    m = ReceiptMatcher(window=100.0)
    m.remember(reference=5, destination="+33612345678", smsc_id="a", now=0.0)
    m.remember(reference=5, destination="+33699999999", smsc_id="b", now=1.0)
    assert m.match(reference=5, recipient="0612345678", now=2.0, final=True) == "a"
    assert m.match(reference=5, recipient="+33612345678", now=2.0, final=True) is None
    assert len(m) == 1


def test_wrapped_reference_goes_to_the_most_recent_send() -> None:
    m = ReceiptMatcher(window=1000.0)
    m.remember(reference=7, destination="+33612345678", smsc_id="old", now=0.0)
    m.remember(reference=7, destination="+33612345678", smsc_id="new", now=500.0)
    assert m.match(reference=7, recipient="+33612345678", now=501.0, final=True) == "new"


def test_non_final_report_keeps_the_send_for_the_final_one() -> None:
    m = ReceiptMatcher(window=100.0)
    m.remember(reference=1, destination="+33612345678", smsc_id="a", now=0.0)
    assert m.match(reference=1, recipient="+33612345678", now=1.0, final=False) == "a"
    assert m.match(reference=1, recipient="+33612345678", now=2.0, final=True) == "a"
    assert m.match(reference=1, recipient="+33612345678", now=3.0, final=True) is None


def test_sends_older_than_the_window_are_forgotten() -> None:
    m = ReceiptMatcher(window=10.0)
    m.remember(reference=1, destination="+33612345678", smsc_id="a", now=0.0)
    assert m.match(reference=1, recipient="+33612345678", now=11.0, final=True) is None
    assert len(m) == 0


def test_report_that_overtakes_its_send_is_handed_back() -> None:
    m = ReceiptMatcher(window=100.0, early_window=5.0)
    early = _report(3, "+33612345678")
    m.hold(early, now=0.0)
    m.hold(_report(4, "+33612345678"), now=0.0)
    assert m.remember(reference=3, destination="+33612345678", smsc_id="x", now=1.0) == [early]
    assert m.remember(reference=4, destination="+33612345678", smsc_id="y", now=9.0) == []
