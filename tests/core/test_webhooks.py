"""Webhooks: signed, one attempt per call, clear verdicts, back-off."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.store.records import WebhookEvent
from gateway.webhooks import RETRY_MAX, HookQueue, host_of, post, retry_delay, sign, verify
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


def test_retry_delay_stays_capped_whatever_the_attempts() -> None:
    assert retry_delay(5000, rng=random.Random(1)) <= RETRY_MAX  # no OverflowError either


def _hook(hook_id: int, url: str) -> WebhookEvent:
    return WebhookEvent(id=hook_id, account="acme", url=url, payload=b"{}", attempts=0)


def test_hook_queue_serves_hosts_in_turn_within_their_limit() -> None:
    queue = HookQueue(concurrency=5, per_host=2)
    slow = [_hook(i, f"https://slow.example/{i}") for i in range(10)]
    other = [_hook(100 + i, "https://other.example:8443/h") for i in range(3)]
    for hook in [*slow, *other]:
        assert queue.offer(hook)
    assert not queue.offer(slow[0])  # held already
    taken = [queue.take() for _ in range(5)]
    hosts = [host_of(h.url) for h in taken if h is not None]
    assert hosts.count(("https", "slow.example", 443)) == 2  # its limit, though first in line
    assert hosts.count(("https", "other.example", 8443)) == 2
    assert queue.take() is None  # both hosts at their limit (one slot left in all)
    first = taken[0]
    assert first is not None
    assert not queue.done(first)  # its host still has some waiting
    again = queue.take()
    assert again is not None
    assert host_of(again.url) == host_of(first.url)


def test_hook_queue_holds_a_bounded_backlog_per_host_and_in_all() -> None:
    queue = HookQueue(concurrency=1, per_host=1, per_host_held=3, max_held=5)
    assert [queue.offer(_hook(i, "http://a.example/")) for i in range(4)] == [
        True, True, True, False]  # one host's backlog stays in the store
    assert [queue.offer(_hook(10 + i, f"http://h{i}.example/")) for i in range(3)] == [
        True, True, False]  # five held in all
    assert queue.held == 5
    hook = queue.take()
    assert hook is not None
    assert not queue.done(hook)
    assert queue.held == 4
