"""The HTTP API's SMPP credentials: created, listed, rotated and removed by the
account itself; the passwords it answers bind to the real SMPP server (smpplib as
the ESME); another account's credentials are not found; no password is logged."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp
from structlog.testing import capture_logs

from drivers.smpp.protocol import status as st
from tests.gateway.ingress.conftest import Client, Env


def _bind_status(port: int, system_id: str, password: str) -> int:
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    try:
        c.bind_transceiver(system_id=system_id, password=password)
        c.unbind()
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return st.ESME_ROK


async def bind_status(port: int, system_id: str, password: str) -> int:
    """The bind_transceiver_resp's command_status (0: bound, then unbound)."""
    return await asyncio.to_thread(_bind_status, port, system_id, password)


async def call(
    client: Client,
    env: Env,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    resp = await client.request(method, path, data=data, headers=env.auth(token))
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


async def test_a_created_password_is_answered_once_and_binds(
    client: Client, env: Env, smpp_port: int
) -> None:
    status, made = await call(
        client,
        env,
        "POST",
        "/v1/esme",
        {"system_id": "acme1", "max_binds": 2, "throughput": 50, "allow": ["127.0.0.1"]},
    )
    assert status == 201
    password = made.pop("password")
    assert len(password) == 8
    assert made.pop("created_at").endswith("Z")
    assert made == {
        "account": "acme",
        "system_id": "acme1",
        "max_binds": 2,
        "throughput": 50,
        "allow": ["127.0.0.1/32"],
        "options": [],
    }
    assert await bind_status(smpp_port, "acme1", password) == st.ESME_ROK
    assert await bind_status(smpp_port, "acme1", "wrong123") == st.ESME_RINVPASWD
    status, listed = await call(client, env, "GET", "/v1/esme")
    assert status == 200
    [shown] = listed["credentials"]
    assert (shown["system_id"], shown["max_binds"], shown["throughput"]) == ("acme1", 2, 50)
    assert set(shown) == {*made, "created_at"}  # no password, no hash
    assert password not in json.dumps(listed)
    assert "scrypt" not in json.dumps(listed)


async def test_defaults_and_the_latin1_option(client: Client, env: Env) -> None:
    status, made = await call(
        client, env, "POST", "/v1/esme", {"system_id": "acme2", "options": ["latin1"]}
    )
    assert status == 201
    assert (made["max_binds"], made["throughput"], made["allow"]) == (1, None, [])
    [stored] = await env.store.list_esme_credentials("acme")
    assert stored.options == ("latin1",)


async def test_a_rotated_password_binds_and_the_old_one_no_longer(
    client: Client, env: Env, smpp_port: int
) -> None:
    _, made = await call(client, env, "POST", "/v1/esme", {"system_id": "acme1", "max_binds": 2})
    old = made["password"]
    # a session bound with the old password stays bound after the rotation
    bound = smpplib.client.Client("127.0.0.1", smpp_port, timeout=10, allow_unknown_opt_params=True)
    await asyncio.to_thread(bound.connect)
    await asyncio.to_thread(bound.bind_transceiver, system_id="acme1", password=old)
    try:
        status, rotated = await call(client, env, "POST", "/v1/esme/acme1/password")
        assert status == 200
        assert set(rotated) == {"account", "system_id", "password"}
        assert (rotated["account"], rotated["system_id"]) == ("acme", "acme1")
        new = rotated["password"]
        assert len(new) == 8
        assert new != old
        assert await bind_status(smpp_port, "acme1", new) == st.ESME_ROK
        assert await bind_status(smpp_port, "acme1", old) == st.ESME_RINVPASWD
        await asyncio.to_thread(bound.send_pdu, smpplib.smpp.make_pdu("enquire_link", client=bound))
        answer = await asyncio.to_thread(bound.read_pdu)
        assert (answer.command, int(answer.status)) == ("enquire_link_resp", st.ESME_ROK)
    finally:
        await asyncio.to_thread(bound.disconnect)


async def test_a_removed_credential_binds_no_more(client: Client, env: Env, smpp_port: int) -> None:
    _, made = await call(client, env, "POST", "/v1/esme", {"system_id": "acme1"})
    status, removed = await call(client, env, "DELETE", "/v1/esme/acme1")
    assert status == 200
    assert (removed["system_id"], removed["removed"]) == ("acme1", True)
    assert "password" not in removed
    assert (await call(client, env, "GET", "/v1/esme"))[1] == {"credentials": []}
    assert await bind_status(smpp_port, "acme1", made["password"]) == st.ESME_RINVSYSID
    status, again = await call(client, env, "DELETE", "/v1/esme/acme1")
    assert (status, again["error"]) == (404, "not_found")


async def test_another_accounts_credential_is_not_found(
    client: Client, env: Env, smpp_port: int
) -> None:
    _, theirs = await call(
        client, env, "POST", "/v1/esme", {"system_id": "other1"}, token=env.other_token
    )
    missing = [
        await call(client, env, "POST", "/v1/esme/ghost1/password"),
        await call(client, env, "DELETE", "/v1/esme/ghost1"),
    ]
    for method, path in (("POST", "/v1/esme/other1/password"), ("DELETE", "/v1/esme/other1")):
        status, answer = await call(client, env, method, path)
        assert (status, answer["error"]) == (404, "not_found")
        assert answer["detail"] == missing[0][1]["detail"].replace("ghost1", "other1")
    assert [m[0] for m in missing] == [404, 404]
    assert (await call(client, env, "GET", "/v1/esme"))[1] == {"credentials": []}
    _, listed = await call(client, env, "GET", "/v1/esme", token=env.other_token)
    assert [c["system_id"] for c in listed["credentials"]] == ["other1"]
    # system_ids are unique over every account: taken is a conflict, not a second one
    status, taken = await call(client, env, "POST", "/v1/esme", {"system_id": "other1"})
    assert (status, taken["error"]) == (409, "conflict")
    assert await bind_status(smpp_port, "other1", theirs["password"]) == st.ESME_ROK


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({}, "missing_field", "system_id"),
        ({"system_id": 5}, "wrong_type", "system_id"),
        ({"system_id": "a b"}, "invalid", "bad system_id"),
        ({"system_id": "x" * 16}, "invalid", "bad system_id"),
        ({"system_id": "acme1", "max_binds": 0}, "invalid", "max binds 0"),
        ({"system_id": "acme1", "max_binds": 101}, "invalid", "max binds 101"),
        ({"system_id": "acme1", "max_binds": True}, "wrong_type", "max_binds"),
        ({"system_id": "acme1", "max_binds": "2"}, "wrong_type", "max_binds"),
        ({"system_id": "acme1", "throughput": 0}, "invalid", "throughput 0"),
        ({"system_id": "acme1", "throughput": 2**70}, "invalid", "throughput"),
        ({"system_id": "acme1", "throughput": 1.5}, "wrong_type", "throughput"),
        ({"system_id": "acme1", "allow": "10.0.0.0/8"}, "wrong_type", "allow"),
        ({"system_id": "acme1", "allow": [1]}, "wrong_type", "allow"),
        ({"system_id": "acme1", "allow": ["nowhere"]}, "invalid", "bad allow entry 'nowhere'"),
        ({"system_id": "acme1", "options": ["zip"]}, "invalid", "unknown ESME option 'zip'"),
        ({"system_id": "acme1", "password": "mine"}, "unknown_field", "password"),
        (["acme1"], "not_an_object", "JSON object"),
        (b"{", "malformed_json", "malformed"),
        (b"[" * 50_000, "malformed_json", "nested too deeply"),
    ],
)
async def test_bad_requests_are_one_line_problems(
    client: Client, env: Env, body: Any, code: str, words: str
) -> None:
    status, answer = await call(client, env, "POST", "/v1/esme", body)
    assert status == 400
    assert set(answer) == {"error", "detail"}
    assert answer["error"] == code
    assert words in answer["detail"]
    assert "\n" not in answer["detail"]
    assert await env.store.list_esme_credentials() == []


async def test_every_route_needs_a_token_and_refuses_unknown_parameters(
    client: Client, env: Env
) -> None:
    routes = [
        ("GET", "/v1/esme"),
        ("POST", "/v1/esme"),
        ("POST", "/v1/esme/acme1/password"),
        ("DELETE", "/v1/esme/acme1"),
    ]
    for method, path in routes:
        resp = await client.request(method, path, data=b'{"system_id": "acme1"}')
        assert resp.status == 401, path
        status, answer = await call(client, env, method, path + "?account=other")
        assert (status, answer["error"]) == (400, "unknown_parameter"), path
    assert await env.store.list_esme_credentials() == []


async def test_passwords_are_never_logged(client: Client, env: Env, smpp_port: int) -> None:
    with capture_logs() as logs:
        _, made = await call(client, env, "POST", "/v1/esme", {"system_id": "acme1"})
        _, rotated = await call(client, env, "POST", "/v1/esme/acme1/password")
        assert await bind_status(smpp_port, "acme1", rotated["password"]) == st.ESME_ROK
        assert await bind_status(smpp_port, "acme1", made["password"]) == st.ESME_RINVPASWD
        await call(client, env, "DELETE", "/v1/esme/acme1")
    events = {e["event"]: e for e in logs}
    for event in ("esme_credential_created", "esme_password_changed", "esme_credential_removed"):
        assert (events[event]["account"], events[event]["system_id"]) == ("acme", "acme1")
    assert len(logs) > 3  # the binds were logged too
    text = repr(logs)
    assert made["password"] not in text
    assert rotated["password"] not in text
