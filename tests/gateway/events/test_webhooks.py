"""Webhooks: signed, one attempt per call, clear verdicts, back-off."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.events.callbacks import CallbackPolicy
from gateway.events.webhooks import (
    RETRY_MAX,
    Attempt,
    CallbackRefused,
    GuardedResolver,
    HookQueue,
    host_of,
    post,
    retry_delay,
    sign,
    verify,
)
from gateway.model.records import WebhookEvent
from tests.webhook_receiver import webhook_receiver

SECRET = b"account-secret"
# the receivers of these tests listen on loopback: allowed as an operator would
LOOPBACK = CallbackPolicy.from_config(["127.0.0.0/8"])


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
            session,
            url,
            b'{"state":"delivered"}',
            secret=SECRET,
            now=1_700_000_000,
            policy=LOOPBACK,
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
        attempt = await post(session, url, b"{}", secret=SECRET, now=0, policy=LOOPBACK)
    assert not attempt.delivered
    assert attempt.permanent is permanent
    assert attempt.status == status


async def test_unreachable_receiver_is_a_retryable_failure() -> None:
    async with aiohttp.ClientSession() as session:
        # port 9 (discard) on loopback: nothing listens there in the test machine
        attempt = await post(
            session,
            "http://127.0.0.1:9/hook",
            b"{}",
            secret=SECRET,
            now=0,
            policy=LOOPBACK,
            timeout=2,
        )
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
        True,
        True,
        True,
        False,
    ]  # one host's backlog stays in the store
    assert [queue.offer(_hook(10 + i, f"http://h{i}.example/")) for i in range(3)] == [
        True,
        True,
        False,
    ]  # five held in all
    assert queue.held == 5
    hook = queue.take()
    assert hook is not None
    assert not queue.done(hook)
    assert queue.held == 4


class StaticDns(AbstractResolver):
    """Names to addresses as a test sets them: a name that resolves to loopback."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": self.names[host.rstrip(".")],
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


async def _post_through(policy: CallbackPolicy, dns: StaticDns, url: str) -> Attempt:
    resolver = GuardedResolver(policy, inner=dns)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await post(session, url, b"{}", secret=SECRET, now=0, policy=policy)


async def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(
    receiver: tuple[str, list[tuple[bytes, str]], list[int]],
) -> None:
    url, seen, _ = receiver
    rebound = url.replace("127.0.0.1", "hooks.example.com")
    policy = CallbackPolicy()
    assert policy.refusal(rebound) is None  # the URL alone passes: a public name
    dns = StaticDns({"hooks.example.com": "127.0.0.1"})  # then resolves to loopback
    attempt = await _post_through(policy, dns, rebound)
    assert dns.asked
    assert not attempt.delivered
    assert attempt.permanent
    assert attempt.error is not None
    assert "hooks.example.com resolves to 127.0.0.1" in attempt.error
    assert seen == []  # nothing reached the receiver


@pytest.mark.parametrize("allow", [["hooks.example.com"], ["127.0.0.0/8"]])
async def test_an_allowed_name_or_network_is_reached(
    receiver: tuple[str, list[tuple[bytes, str]], list[int]],
    allow: list[str],
) -> None:
    url, seen, _ = receiver
    attempt = await _post_through(
        CallbackPolicy.from_config(allow),
        StaticDns({"hooks.example.com": "127.0.0.1"}),
        url.replace("127.0.0.1", "hooks.example.com"),
    )
    assert attempt.delivered
    assert len(seen) == 1


async def test_localhost_resolved_by_the_system_is_refused() -> None:
    with pytest.raises(CallbackRefused, match="localhost resolves to"):
        await GuardedResolver(CallbackPolicy()).resolve("localhost", 80, socket.AF_UNSPEC)


async def test_a_stored_loopback_url_is_refused_without_connecting(
    receiver: tuple[str, list[tuple[bytes, str]], list[int]],
) -> None:
    url, seen, _ = receiver  # stored before the rule, or the rule changed since
    async with aiohttp.ClientSession() as session:
        attempt = await post(session, url, b"{}", secret=SECRET, now=0, policy=CallbackPolicy())
    assert (attempt.delivered, attempt.permanent) == (False, True)
    assert attempt.error is not None
    assert "loopback" in attempt.error
    assert seen == []
