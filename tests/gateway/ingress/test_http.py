"""The HTTP API over a loopback socket with a real SQLite store."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from gateway.ingress.http import HttpServer, build_app
from gateway.ingress.http_errors import STATUS_BY_ERROR, status_for
from gateway.ingress.pipeline import SendService
from gateway.model.message import MessageState
from gateway.model.records import Enqueued, EntryKind, InboundMessage
from tests.gateway.ingress.conftest import Client, Env
from tests.gateway.store.support import new_message

FR = "+33612345678"
BE = "+32470123456"
DE = "+4915112345678"  # valid, but no price in the fixture


def payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": "ACME", "to": [FR], "text": "hello"}
    body.update(overrides)
    return body


async def post(
    client: Client,
    env: Env,
    body: Any,
    *,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await client.post("/v1/messages", data=data, headers=env.auth(token))
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


# --- sends ---------------------------------------------------------------------


async def test_send_is_202_after_the_message_and_its_debit_are_stored(
    client: Client,
    env: Env,
) -> None:
    status, body = await post(client, env, payload(to=[FR, BE]))
    assert status == 202
    assert [m["to"] for m in body["messages"]] == [FR, BE]
    assert [m["credits"] for m in body["messages"]] == [1, 2]
    assert body["messages"][0]["segments"] == 1
    assert body["messages"][0]["encoding"] == "gsm7"
    assert "refused" not in body
    view = await env.store.get_message(body["messages"][0]["id"])
    assert view.message.state is MessageState.QUEUED
    assert view.message.account == "acme"
    assert (await env.store.balance("acme")).balance == 97
    debits = [e for e in await env.store.history("acme") if e.kind is EntryKind.DEBIT]
    assert {e.message_id for e in debits} == {m["id"] for m in body["messages"]}


async def test_send_accepts_one_recipient_as_a_string(client: Client, env: Env) -> None:
    status, body = await post(client, env, payload(to="+33 6 12 34 56 78"))
    assert status == 202
    assert body["messages"][0]["to"] == FR


async def test_send_lists_recipients_refused_one_by_one(client: Client, env: Env) -> None:
    status, body = await post(client, env, payload(to=[FR, DE]))
    assert status == 202
    assert [m["to"] for m in body["messages"]] == [FR]
    assert body["refused"] == [
        {"to": DE, "error": "no_price", "detail": body["refused"][0]["detail"]}
    ]
    assert DE in body["refused"][0]["detail"]


async def test_send_tolerates_a_form_content_type(client: Client, env: Env) -> None:
    resp = await client.post(
        "/v1/messages",
        data=json.dumps(payload()),
        headers={**env.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 202


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b'{"from": "ACME", "to": [', "malformed_json", "line 1"),
        (b"", "malformed_json", "empty"),
        (b"[1, 2]", "not_an_object", "array"),
        (b'{"from": "ACME", "to": "+33612345678", "text": "caf\xe9"}', "invalid_utf8", "0xe9"),
        (json.dumps(payload(priority="1")).encode(), "wrong_type", "'priority'"),
        (json.dumps(payload(priority=True)).encode(), "wrong_type", "a boolean"),
        (json.dumps(payload(to=[33612345678])).encode(), "wrong_type", "'to[0]'"),
        (json.dumps(payload(sendat="2026-12-01T09:00:00Z")).encode(), "unknown_field", "'sendat'"),
        (json.dumps({"from": "ACME", "to": [FR]}).encode(), "missing_field", "'text'"),
        (
            json.dumps(payload(to=["0612345678"])).encode(),
            "invalid_recipient",
            "international format",
        ),
        (json.dumps(payload(text="")).encode(), "empty_text", "the text is empty"),
        (json.dumps(payload(text=" \n ")).encode(), "empty_text", "the text is empty"),
        (json.dumps(payload(send_at="2026-12-01T09:00:00")).encode(), "invalid_value", "time zone"),
        (json.dumps(payload(**{"from": "THIS IS TOO LONG"})).encode(), "invalid_sender", "sender"),
        # ranges: the send service's rules, the same for MQTT and the CLI
        (
            json.dumps(payload(send_at="9999-12-31T23:59:59-23:00")).encode(),
            "invalid_value",
            "send_at is more than 365 days ahead",
        ),
        (
            json.dumps(payload(send_at="0001-01-01T00:00:00+01:00")).encode(),
            "invalid_value",
            "send_at is more than 7 days in the past",
        ),
        (json.dumps(payload(validity=0)).encode(), "invalid_value", "validity 0 seconds"),
        (json.dumps(payload(validity=441 * 86400 + 1)).encode(), "invalid_value", "441 days"),
        (json.dumps(payload(validity=2**63)).encode(), "invalid_value", "validity"),
        (json.dumps(payload(priority=4)).encode(), "invalid_value", "priority 4"),
        (
            json.dumps(payload(client_ref="r" * 101)).encode(),
            "invalid_value",
            "1 to 100 characters",
        ),
    ],
)
async def test_bad_input_is_400_with_a_code_and_a_detail(
    client: Client,
    env: Env,
    body: bytes,
    code: str,
    words: str,
) -> None:
    status, answer = await post(client, env, body)
    assert status == 400
    assert answer["error"] == code
    assert words in answer["detail"]
    assert "\n" not in answer["detail"]
    assert (await env.store.balance("acme")).balance == 100


async def test_body_over_the_limit_is_413_json(client: Client, env: Env) -> None:
    big = json.dumps(payload(text="x" * 100_000)).encode()
    status, answer = await post(client, env, big)
    assert (status, answer["error"]) == (413, "too_large")


async def test_chunked_body_over_the_limit_is_413_json(client: Client, env: Env) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    resp = await client.post("/v1/messages", data=chunks(), headers=env.auth())
    assert resp.status == 413
    assert (await resp.json())["error"] == "too_large"


async def test_text_over_255_segments_is_413(client: Client, env: Env) -> None:
    status, answer = await post(client, env, payload(text="a" * (153 * 255 + 1)))
    assert (status, answer["error"]) == (413, "too_long")
    assert "256 segments" in answer["detail"]


async def test_missing_token_is_401_with_a_challenge(client: Client, env: Env) -> None:
    resp = await client.post("/v1/messages", data=json.dumps(payload()))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="smsgw"'
    assert (await resp.json())["error"] == "unauthorized"


async def test_unknown_token_is_401_invalid_token(client: Client, env: Env) -> None:
    resp = await client.post(
        "/v1/messages", data=json.dumps(payload()), headers={"Authorization": "Bearer nope"}
    )
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_basic_auth_is_401(client: Client, env: Env) -> None:
    resp = await client.get("/v1/balance", headers={"Authorization": "Basic YTpi"})
    assert resp.status == 401


async def test_no_credit_is_402_listing_the_refusals(client: Client, env: Env) -> None:
    status, answer = await post(client, env, payload(**{"from": "POOR"}), token=env.poor_token)
    assert status == 402
    assert answer["error"] == "insufficient_credit"
    assert answer["messages"] == []
    assert [r["error"] for r in answer["refused"]] == ["insufficient_credit"]
    assert await env.store.list_messages(account="poor") == []


async def test_pending_sender_is_403(client: Client, env: Env) -> None:
    status, answer = await post(client, env, payload(**{"from": "PENDING"}), token=env.poor_token)
    assert (status, answer["error"]) == (403, "sender_not_allowed")
    assert "waiting for approval" in answer["detail"]


async def test_another_accounts_sender_is_403(client: Client, env: Env) -> None:
    status, answer = await post(client, env, payload(**{"from": "OTHER"}))
    assert (status, answer["error"]) == (403, "sender_not_allowed")
    assert "another account" in answer["detail"]


async def test_client_ref_with_the_same_body_returns_the_same_message(
    client: Client,
    env: Env,
) -> None:
    first_status, first = await post(client, env, payload(client_ref="order-1"))
    again_status, again = await post(client, env, payload(client_ref="order-1"))
    assert (first_status, again_status) == (202, 202)
    assert again["messages"][0]["id"] == first["messages"][0]["id"]
    assert again["messages"][0]["duplicate"] is True
    assert (await env.store.balance("acme")).balance == 99


async def test_client_ref_with_another_body_is_409(client: Client, env: Env) -> None:
    await post(client, env, payload(client_ref="order-1"))
    status, answer = await post(client, env, payload(client_ref="order-1", text="other"))
    assert status == 409
    assert answer["error"] == "conflict"
    assert (await env.store.balance("acme")).balance == 99


# --- reading and cancelling ------------------------------------------------------


async def test_get_message_shows_state_and_segments(client: Client, env: Env) -> None:
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    given = later.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()
    _, sent = await post(client, env, payload(send_at=given))
    message_id = sent["messages"][0]["id"]
    resp = await client.get(f"/v1/messages/{message_id}", headers=env.auth())
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == message_id
    assert body["state"] == "queued"
    assert body["send_at"] == later.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert isinstance(body["segments"], list)
    assert body["segment_count"] == 1


@pytest.mark.parametrize(
    ("send_at", "shown"),
    [
        (
            dt.datetime.fromisoformat("9999-12-31T23:59:59-23:00").timestamp(),
            "9999-12-31T23:59:59.999Z",
        ),
        (
            dt.datetime.fromisoformat("0001-01-01T00:00:00+01:00").timestamp(),
            "0001-01-01T00:00:00.000Z",
        ),
    ],
)
async def test_a_stored_send_at_out_of_the_date_range_is_shown_not_a_500(
    client: Client,
    env: Env,
    send_at: float,
    shown: str,
) -> None:
    # stored before ingress bounded send_at: shown clamped to the representable range
    result = await env.store.enqueue([new_message(send_at=send_at)])
    [stored] = result.results
    assert isinstance(stored, Enqueued)
    resp = await client.get(f"/v1/messages/{stored.message.id}", headers=env.auth())
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["send_at"] == shown


async def test_another_accounts_message_is_404_like_a_missing_one(
    client: Client,
    env: Env,
) -> None:
    _, sent = await post(client, env, payload())
    message_id = sent["messages"][0]["id"]
    theirs = await client.get(f"/v1/messages/{message_id}", headers=env.auth(env.other_token))
    missing = await client.get("/v1/messages/no-such-id", headers=env.auth(env.other_token))
    assert theirs.status == missing.status == 404
    assert (await theirs.json())["error"] == (await missing.json())["error"] == "not_found"
    cancel = await client.post(
        f"/v1/messages/{message_id}/cancel", headers=env.auth(env.other_token)
    )
    assert cancel.status == 404
    assert (await env.store.get_message(message_id)).message.state is MessageState.QUEUED


async def test_cancel_refunds_and_a_second_cancel_is_409(client: Client, env: Env) -> None:
    _, sent = await post(client, env, payload(to=[BE]))
    message_id = sent["messages"][0]["id"]
    assert (await env.store.balance("acme")).balance == 98
    resp = await client.post(f"/v1/messages/{message_id}/cancel", headers=env.auth())
    assert resp.status == 200
    assert await resp.json() == {"id": message_id, "state": "cancelled", "refunded": 2}
    balance = await (await client.get("/v1/balance", headers=env.auth())).json()
    assert balance["balance"] == 100
    again = await client.post(f"/v1/messages/{message_id}/cancel", headers=env.auth())
    assert again.status == 409
    answer = await again.json()
    assert answer["error"] == "not_cancellable"
    assert "cancelled" in answer["detail"]


async def test_balance_reports_the_account(client: Client, env: Env) -> None:
    resp = await client.get("/v1/balance", headers=env.auth())
    assert await resp.json() == {
        "account": "acme",
        "balance": 100,
        "credit_limit": 0,
        "available": 100,
        "monthly_cap": None,
        "month_spent": 0,
        "currency": "credits",
    }


async def test_inbound_lists_only_this_accounts_replies(client: Client, env: Env) -> None:
    for n, account in enumerate(["acme", "other", "acme"]):
        await env.store.add_inbound(
            InboundMessage(
                id=f"in-{n}",
                account=account,
                link="smsc",
                source=FR,
                destination="ACME",
                text=f"reply {n}",
                received_at=1_700_000_000.0 + n,
            )
        )
    resp = await client.get("/v1/inbound?limit=5", headers=env.auth())
    assert resp.status == 200
    assert sorted(m["id"] for m in (await resp.json())["inbound"]) == ["in-0", "in-2"]
    bad = await client.get("/v1/inbound?limit=0", headers=env.auth())
    assert (bad.status, (await bad.json())["error"]) == (400, "invalid_value")


async def test_inbound_in_pages_and_time_ranges(client: Client, env: Env) -> None:
    for n in range(3):
        await env.store.add_inbound(
            InboundMessage(
                id=f"in-{n}",
                account="acme",
                link="smsc",
                source=FR,
                destination="ACME",
                text=f"reply {n}",
                received_at=1_700_000_000.0 + 60 * n,
            )
        )
    first = await (await client.get("/v1/inbound?limit=2", headers=env.auth())).json()
    assert [m["id"] for m in first["inbound"]] == ["in-2", "in-1"]
    rest = await client.get(
        "/v1/inbound", params={"cursor": first["next_cursor"]}, headers=env.auth()
    )
    body = await rest.json()
    assert ([m["id"] for m in body["inbound"]], body["next_cursor"]) == (["in-0"], None)
    since = dt.datetime.fromtimestamp(1_700_000_030, dt.UTC).isoformat()
    window = await client.get("/v1/inbound", params={"since": since}, headers=env.auth())
    assert [m["id"] for m in (await window.json())["inbound"]] == ["in-2", "in-1"]


# --- operations --------------------------------------------------------------------


async def test_metrics_count_accepted_and_rejected(client: Client, env: Env) -> None:
    await post(client, env, payload(to=[FR, BE]))
    await post(client, env, b"{")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'smsgw_messages_accepted_total{account="acme",channel="http"} 2.0' in text
    assert 'smsgw_messages_rejected_total{account="acme",reason="malformed_json"} 1.0' in text


async def test_healthz_is_ok(client: Client) -> None:
    resp = await client.get("/healthz")
    assert (resp.status, await resp.json()) == (200, {"status": "ok"})


async def test_readyz_follows_the_readiness_check(client: Client, env: Env) -> None:
    ready = await client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"status": "ready", "links_bound": 1})
    env.ready, env.details = False, {"links_bound": 0}
    assert (await client.get("/readyz")).status == 503
    env.readiness_error = OSError("store unreachable")
    failed = await client.get("/readyz")
    assert (failed.status, (await failed.json())["status"]) == (503, "not_ready")


async def test_unknown_route_and_method_are_json(client: Client) -> None:
    missing = await client.get("/v2/nothing")
    assert (missing.status, (await missing.json())["error"]) == (404, "not_found")
    wrong = await client.put("/v1/messages")
    assert (wrong.status, (await wrong.json())["error"]) == (405, "method_not_allowed")
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "POST"}


async def test_unexpected_error_is_500_logged_without_secrets(
    client: Client,
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(account: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(env.store, "balance", broken)
    with capture_logs() as logs:
        resp = await client.get("/v1/balance", headers=env.auth())
    assert resp.status == 500
    assert await resp.json() == {
        "error": "internal",
        "detail": "internal error; see the server log",
    }
    [event] = [e for e in logs if e["event"] == "http_request_failed"]
    assert event["log_level"] == "error"
    assert "disk on fire" in event["traceback"]
    assert env.token not in repr(logs)


async def test_accept_log_names_the_message_and_has_no_text(client: Client, env: Env) -> None:
    with capture_logs() as logs:
        _status, body = await post(client, env, payload(text="secret words"))
    [message] = body["messages"]
    [event] = [e for e in logs if e["event"] == "messages_enqueued"]
    assert (event["log_level"], event["account"], event["count"]) == ("info", "acme", 1)
    assert event["ids"] == [message["id"]]
    [request] = [e for e in logs if e["event"] == "http_message_accepted"]
    assert request["log_level"] == "debug"
    assert "secret words" not in repr(logs)


class InfoOnly:
    """A logger at info: a debug call is a failure (its fields cost something)."""

    def is_enabled_for(self, level: int) -> bool:
        return level >= logging.INFO

    def debug(self, event: str, **fields: Any) -> None:
        raise AssertionError(f"debug line {event} built at info")

    def info(self, event: str, **fields: Any) -> None:
        pass


async def test_no_debug_line_is_built_when_the_level_drops_it(env: Env) -> None:
    log = InfoOnly()
    app = build_app(
        store=env.store,
        send_service=SendService(store=env.store, log=log),
        readiness=env.readiness,
        logger=log,
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        status, body = await post(c, env, payload())
    assert status == 202
    assert len(body["messages"]) == 1


def test_every_user_error_maps_through_the_one_table() -> None:
    from gateway.model.errors import (
        ClientRefConflict,
        InvalidRecipient,
        NoPrice,
        StoreUnavailable,
        TextTooLong,
    )

    assert status_for(ClientRefConflict("x")) == 409
    assert status_for(TextTooLong(256)) == 413
    assert status_for(InvalidRecipient("x")) == 400
    assert status_for(NoPrice("+49")) == 400
    assert status_for(StoreUnavailable("db: the server is unreachable")) == 503
    assert set(STATUS_BY_ERROR.values()) <= {400, 401, 402, 403, 404, 408, 409, 413, 503}


async def test_http_server_binds_a_free_port_and_stops(app: web.Application) -> None:
    server = HttpServer(app, logger=structlog.get_logger())
    port = await server.start("127.0.0.1", 0)
    try:
        assert port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/healthz")


async def test_token_with_undecodable_bytes_is_401(client: Client, env: Env) -> None:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"GET /v1/balance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Connection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b'"invalid_token"' in answer


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://0x7f000001/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest",
        "http://[fc00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://u:p@example.com/h",
    ],
)
async def test_a_callback_url_to_an_internal_receiver_is_refused_before_any_charge(
    client: Client,
    env: Env,
    url: str,
) -> None:
    status, body = await post(client, env, payload(callback_url=url))
    assert status == 400
    assert body["error"] == "invalid_value"
    assert body["detail"].startswith("field 'callback_url': ")
    assert "refused" in body["detail"]
    assert (await env.store.balance("acme")).balance == 100
