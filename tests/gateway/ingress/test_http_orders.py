"""The HTTP API's credit orders and stoplist: each account sees only its own."""

from __future__ import annotations

import json
from typing import Any

from gateway.model.orders import OrderStatus
from tests.gateway.ingress.conftest import Client, Env

FR = "+33612345678"
BE = "+32470123456"


async def order(
    client: Client, env: Env, body: Any, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await client.post("/v1/orders", data=data, headers=env.auth(token))
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


async def test_an_order_is_created_pending_and_credits_nothing_yet(
    client: Client, env: Env
) -> None:
    status, body = await order(client, env, {"credits": 500})
    assert status == 201
    assert (body["account"], body["credits"], body["status"]) == ("acme", 500, "pending")
    assert body["payment_ref"] is None
    assert body["created_at"].endswith("Z")
    stored = await env.store.get_order(body["id"])
    assert (stored.account, stored.status) == ("acme", OrderStatus.PENDING)
    assert (await env.store.balance("acme")).balance == 100


async def test_bad_orders_are_400_with_a_code(client: Client, env: Env) -> None:
    cases: list[tuple[Any, str]] = [
        ({"credits": 99}, "below_min_pack"),
        ({"credits": "500"}, "wrong_type"),
        ({"credits": True}, "wrong_type"),
        ({}, "missing_field"),
        ({"credits": 500, "price": 1}, "unknown_field"),
        ([500], "not_an_object"),
        (b"{", "malformed_json"),
        (b"[" * 50_000, "malformed_json"),  # nested too deeply for the parser
        (b'{"credits": 500, "credits": 600}', "malformed_json"),  # a repeated key
        (b"\xff", "invalid_utf8"),
    ]
    for body, code in cases:
        status, answer = await order(client, env, body)
        assert (status, answer["error"]) == (400, code), body
    assert await env.store.list_orders() == []


async def test_orders_need_a_token(client: Client, env: Env) -> None:
    resp = await client.post("/v1/orders", data=b'{"credits": 500}')
    assert resp.status == 401
    resp = await client.get("/v1/orders")
    assert resp.status == 401


async def test_list_shows_the_accounts_own_orders_newest_first(client: Client, env: Env) -> None:
    _, first = await order(client, env, {"credits": 100})
    _, second = await order(client, env, {"credits": 200})
    await order(client, env, {"credits": 300}, token=env.other_token)
    await env.store.pay_order(first["id"], payment_ref="BANK-1")
    resp = await client.get("/v1/orders", headers=env.auth())
    body = await resp.json()
    assert resp.status == 200
    assert [(o["id"], o["status"]) for o in body["orders"]] == [
        (second["id"], "pending"),
        (first["id"], "paid"),
    ]
    assert body["orders"][1]["payment_ref"] == "BANK-1"
    resp = await client.get("/v1/orders?status=paid&limit=5", headers=env.auth())
    assert [o["id"] for o in (await resp.json())["orders"]] == [first["id"]]
    resp = await client.get("/v1/orders?status=lost", headers=env.auth())
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_value")
    assert (await env.store.balance("acme")).balance == 200


async def test_a_customer_cancels_its_own_pending_order_only(client: Client, env: Env) -> None:
    _, mine = await order(client, env, {"credits": 100})
    _, paid = await order(client, env, {"credits": 200})
    _, theirs = await order(client, env, {"credits": 300}, token=env.other_token)
    await env.store.pay_order(paid["id"])

    async def cancel(order_id: object) -> tuple[int, dict[str, Any]]:
        resp = await client.post(f"/v1/orders/{order_id}/cancel", headers=env.auth())
        return resp.status, await resp.json()

    status, body = await cancel(mine["id"])
    assert (status, body["id"], body["status"]) == (200, mine["id"], "cancelled")
    assert (await cancel(mine["id"]))[0] == 409  # already cancelled
    assert (await cancel(paid["id"]))[0] == 409  # paid: the operator corrects the balance
    status, body = await cancel(theirs["id"])  # another account's: as if it did not exist
    assert (status, body["error"]) == (404, "not_found")
    assert (await cancel(999999))[0] == 404
    assert (await cancel("x1"))[0] == 404
    assert (await env.store.get_order(theirs["id"])).status is OrderStatus.PENDING
    resp = await client.post(f"/v1/orders/{mine['id']}/cancel")
    assert resp.status == 401


async def test_lists_refuse_unknown_and_repeated_query_parameters(client: Client, env: Env) -> None:
    cases = [
        ("/v1/orders?statuss=paid", "unknown_parameter"),
        ("/v1/orders?cursor=x", "unknown_parameter"),
        ("/v1/orders?status=paid&status=pending", "invalid_value"),
        ("/v1/orders?limit=1001", "invalid_value"),
        ("/v1/orders?limit=0", "invalid_value"),
        ("/v1/stoplist?limit=5", "unknown_parameter"),
    ]
    for path, code in cases:
        resp = await client.get(path, headers=env.auth())
        body = await resp.json()
        assert (resp.status, body["error"]) == (400, code), path
        assert body["detail"]
    resp = await client.get("/v1/orders?status=paid&limit=1000", headers=env.auth())
    assert (resp.status, await resp.json()) == (200, {"orders": []})


async def test_stoplist_lists_the_accounts_numbers(client: Client, env: Env) -> None:
    await env.store.add_stop("acme", FR)
    await env.store.add_stop("other", BE)
    resp = await client.get("/v1/stoplist", headers=env.auth())
    body = await resp.json()
    assert resp.status == 200
    assert [(e["number"], e["source"]) for e in body["stoplist"]] == [(FR, "operator")]


async def test_a_send_to_a_stopped_number_is_refused_and_not_charged(
    client: Client, env: Env
) -> None:
    await env.store.add_stop("acme", FR)
    payload = {"from": "ACME", "to": [FR, BE], "text": "hello"}
    resp = await client.post("/v1/messages", data=json.dumps(payload), headers=env.auth())
    body = await resp.json()
    assert resp.status == 202
    assert [m["to"] for m in body["messages"]] == [BE]
    assert [(r["to"], r["error"]) for r in body["refused"]] == [(FR, "stopped")]
    assert (await env.store.balance("acme")).balance == 98  # BE's 2 credits only
    payload["to"] = [FR]
    resp = await client.post("/v1/messages", data=json.dumps(payload), headers=env.auth())
    assert (resp.status, (await resp.json())["error"]) == (400, "stopped")
