"""Webhooks: signed, one attempt per call, clear verdicts, back-off."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.webhooks import post, retry_delay, sign, verify
from tests.webhook_receiver import webhook_receiver

SECRET = b"account-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, str]], list[int]]]:
    """A webhook receiver on loopback answering the statuses queued in ``answers``."""
    async with webhook_receiver() as r:
        yield r.url, r.seen, r.answers


async def test_delivered_body_carries_a_valid_signature(
    receiver: tuple[str, list[tuple[bytes, str]], list[int]],
) -> None:
    url, seen, _ = receiver
    async with aiohttp.ClientSession() as session:
        attempt = await post(
            session, url, b'{"state":"delivered"}', secret=SECRET, now=1_700_000_000
        )
    assert attempt.delivered
    assert attempt.status == 200
    [(body, header)] = seen
    assert body == b'{"state":"delivered"}'
    assert verify(header, body, SECRET, now=1_700_000_010)
    assert not verify(header, body, b"other-secret", now=1_700_000_010)
    assert not verify(header, body + b" ", SECRET, now=1_700_000_010)
    assert not verify(header, body, SECRET, now=1_700_001_000)  # too old: a replay


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (429, False), (404, True)])
async def test_error_answers_say_whether_to_retry(
    receiver: tuple[str, list[tuple[bytes, str]], list[int]], status: int, permanent: bool
) -> None:
    url, _, answers = receiver
    answers.append(status)
    async with aiohttp.ClientSession() as session:
        attempt = await post(session, url, b"{}", secret=SECRET, now=0)
    assert not attempt.delivered
    assert attempt.permanent is permanent
    assert attempt.status == status


async def test_unreachable_receiver_is_a_retryable_failure() -> None:
    async with aiohttp.ClientSession() as session:
        # port 9 (discard) on loopback: nothing listens there in the test machine
        attempt = await post(session, "http://127.0.0.1:9/hook", b"{}", secret=SECRET, now=0,
                             timeout=2)
    assert not attempt.delivered
    assert not attempt.permanent
    assert attempt.error


def test_malformed_signature_headers_do_not_verify() -> None:
    for header in ["", "t=1", "v1=abc", "t=x,v1=abc", "garbage"]:
        assert not verify(header, b"{}", SECRET, now=1)


def test_signature_is_hmac_of_timestamp_and_body() -> None:
    import hmac

    assert sign(b"{}", SECRET, 42) == "t=42,v1=" + hmac.new(SECRET, b"42.{}", "sha256").hexdigest()


def test_retry_delay_grows_then_caps() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, rng=rng) for n in range(1, 15)]
    assert 2.5 <= delays[0] <= 5
    assert all(d <= 3600 for d in delays)
    assert delays[-1] >= 1800


def test_retry_delay_stays_finite_after_thousands_of_attempts() -> None:
    rng = random.Random(3)
    assert 1800.0 <= retry_delay(5000, rng=rng) <= 3600.0
