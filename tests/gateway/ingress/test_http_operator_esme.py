"""The operators' SMPP credential routes (/v1/accounts/{account}/esme...): an
operator token acts on any account, the passwords it is answered bind to the real
SMPP server (smpplib as the ESME); an account's token reaches none of them, and an
operator token no account's own routes; what an operator token did is logged with
its name, never a token or a password."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from drivers.smpp.protocol import status as st
from tests.gateway.ingress.conftest import Client, Env
from tests.gateway.ingress.test_http_esme import bind_status, call

ROUTES = [
    ("GET", "/v1/accounts/{account}/esme"),
    ("POST", "/v1/accounts/{account}/esme"),
    ("POST", "/v1/accounts/{account}/esme/{system_id}/password"),
    ("DELETE", "/v1/accounts/{account}/esme/{system_id}"),
]


def _path(route: str, account: str, system_id: str = "acme1") -> str:
    return route.format(account=account, system_id=system_id)


async def test_an_operator_token_manages_any_accounts_credentials(
    client: Client, env: Env, smpp_port: int
) -> None:
    ops = env.operator_token
    status, made = await call(
        client,
        env,
        "POST",
        "/v1/accounts/acme/esme",
        {"system_id": "acme1", "max_binds": 2, "throughput": 50},
        token=ops,
    )
    assert status == 201
    assert (made["account"], made["system_id"], made["max_binds"]) == ("acme", "acme1", 2)
    status, theirs = await call(
        client, env, "POST", "/v1/accounts/other/esme", {"system_id": "other1"}, token=ops
    )
    assert (status, theirs["account"]) == (201, "other")
    assert await bind_status(smpp_port, "acme1", made["password"]) == st.ESME_ROK
    assert await bind_status(smpp_port, "other1", theirs["password"]) == st.ESME_ROK
    # each account sees its own, made by the operator, with its own token
    _, own = await call(client, env, "GET", "/v1/esme")
    assert [c["system_id"] for c in own["credentials"]] == ["acme1"]
    _, listed = await call(client, env, "GET", "/v1/accounts/other/esme", token=ops)
    assert [c["system_id"] for c in listed["credentials"]] == ["other1"]
    assert theirs["password"] not in json.dumps(listed)
    status, rotated = await call(
        client, env, "POST", "/v1/accounts/other/esme/other1/password", token=ops
    )
    assert (status, rotated["account"], rotated["system_id"]) == (200, "other", "other1")
    assert await bind_status(smpp_port, "other1", rotated["password"]) == st.ESME_ROK
    assert await bind_status(smpp_port, "other1", theirs["password"]) == st.ESME_RINVPASWD
    status, removed = await call(client, env, "DELETE", "/v1/accounts/acme/esme/acme1", token=ops)
    assert (status, removed["removed"]) == (200, True)
    assert await bind_status(smpp_port, "acme1", made["password"]) == st.ESME_RINVSYSID
    assert [c.system_id for c in await env.store.list_esme_credentials()] == ["other1"]


async def test_another_accounts_system_id_is_not_found_on_this_account(
    client: Client, env: Env
) -> None:
    ops = env.operator_token
    await call(client, env, "POST", "/v1/accounts/other/esme", {"system_id": "other1"}, token=ops)
    for method, route in ROUTES[2:]:
        status, answer = await call(client, env, method, _path(route, "acme", "other1"), token=ops)
        assert (status, answer["error"]) == (404, "not_found")
        assert "'other1' of account 'acme' (GET /v1/accounts/acme/esme)" in answer["detail"]
    # unique over every account: taken is a conflict, whoever asks
    status, taken = await call(
        client, env, "POST", "/v1/accounts/acme/esme", {"system_id": "other1"}, token=ops
    )
    assert (status, taken["error"]) == (409, "conflict")
    assert [c.account for c in await env.store.list_esme_credentials()] == ["other"]


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_an_account_token_reaches_no_operator_route(
    client: Client, env: Env, method: str, route: str
) -> None:
    await env.store.create_esme_credential("other", "other1")
    for account in ("acme", "other"):  # its own account's path, another's
        status, answer = await call(
            client, env, method, _path(route, account, "other1"), {"system_id": "acme1"}
        )
        assert (status, answer["error"]) == (403, "forbidden")
        assert "operator tokens" in answer["detail"]
        assert "\n" not in answer["detail"]
    resp = await client.request(method, _path(route, "other", "other1"))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="smsgw"'
    status, answer = await call(client, env, method, _path(route, "other"), token="smsgwop_nope")
    assert (status, answer["error"]) == (401, "unauthorized")
    [kept] = await env.store.list_esme_credentials()
    assert (kept.account, kept.system_id) == ("other", "other1")


async def test_an_operator_token_reaches_no_accounts_own_route(client: Client, env: Env) -> None:
    ops = env.operator_token
    for method, path, body in (
        ("GET", "/v1/esme", None),
        ("POST", "/v1/esme", {"system_id": "ops1"}),
        ("GET", "/v1/balance", None),
        ("GET", "/v1/tokens", None),
        ("POST", "/v1/messages", {"from": "ACME", "to": ["+33612345678"], "text": "hi"}),
    ):
        status, answer = await call(client, env, method, path, body, token=ops)
        assert (status, answer["error"]) == (403, "forbidden"), path
        assert "/v1/accounts/{account}/" in answer["detail"]
    assert await env.store.list_esme_credentials() == []
    assert (await env.store.balance("acme")).balance == 100


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_an_unknown_account_is_not_found(
    client: Client, env: Env, method: str, route: str
) -> None:
    for account, shown in (("ghost", "'ghost'"), ("x" * 64 + "!", "'" + "x" * 20 + "…'")):
        status, answer = await call(
            client,
            env,
            method,
            _path(route, account),
            {"system_id": "ghost1"},
            token=env.operator_token,
        )
        assert (status, answer["error"]) == (404, "not_found")
        assert f"unknown account {shown}" in answer["detail"]
    assert await env.store.list_esme_credentials() == []


async def test_what_an_operator_token_did_is_logged_with_its_name_never_a_secret(
    client: Client, env: Env
) -> None:
    ops = env.operator_token
    [operator] = await env.store.list_operator_tokens()
    with capture_logs() as logs:
        _, made = await call(
            client, env, "POST", "/v1/accounts/acme/esme", {"system_id": "acme1"}, token=ops
        )
        _, rotated = await call(
            client, env, "POST", "/v1/accounts/acme/esme/acme1/password", token=ops
        )
        await call(client, env, "DELETE", "/v1/accounts/acme/esme/acme1", token=ops)
        _, own = await call(client, env, "POST", "/v1/esme", {"system_id": "acme2"})
        await call(client, env, "GET", "/v1/esme", token=ops)  # refused
    events = [e for e in logs if e["event"].startswith("esme_")]
    assert [(e["event"], e["account"], e["system_id"]) for e in events] == [
        ("esme_credential_created", "acme", "acme1"),
        ("esme_password_changed", "acme", "acme1"),
        ("esme_credential_removed", "acme", "acme1"),
        ("esme_credential_created", "acme", "acme2"),
    ]
    for event in events[:3]:
        assert (event["operator"], event["operator_token_id"]) == ("ops", operator.id)
    assert "operator" not in events[3]  # the account's own token
    text = repr(logs)
    for secret in (ops, env.token, made["password"], rotated["password"], own["password"]):
        assert secret not in text
    assert operator.prefix not in text
