"""The account's lists, quotes, phonebook sends, senders and tokens over a loopback
socket with a real SQLite store."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from gateway.model.message import SenderStatus
from gateway.model.records import PhonebookContact
from tests.gateway.ingress.conftest import Client, Env

FR = "+33612345678"
FR2 = "+33612345679"
BE = "+32470123456"
DE = "+4915112345678"  # valid, but no price in the fixture


async def get(
    client: Client, env: Env, path: str, *, token: str | None = None, **params: str
) -> tuple[int, Any]:
    resp = await client.get(path, params=params, headers=env.auth(token))
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


async def send(client: Client, env: Env, **body: Any) -> dict[str, Any]:
    resp = await client.post(
        "/v1/messages", data=json.dumps({"from": "ACME", "text": "hi", **body}), headers=env.auth()
    )
    assert resp.status == 202, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def quote(client: Client, env: Env, body: Any, token: str | None = None) -> tuple[int, Any]:
    resp = await client.post("/v1/quote", data=json.dumps(body), headers=env.auth(token))
    return resp.status, await resp.json()


# --- GET /v1/messages -----------------------------------------------------------------


async def test_messages_list_newest_first_in_pages_stable_under_sends(
    client: Client, env: Env
) -> None:
    first = await send(client, env, to=[FR, FR2, BE])
    ids = [m["id"] for m in first["messages"]]
    status, page = await get(client, env, "/v1/messages", limit="2")
    assert status == 200
    assert [m["id"] for m in page["messages"]] == sorted(ids, reverse=True)[:2]
    assert page["messages"][0]["state"] == "queued"
    assert "segments" not in page["messages"][0]  # a list: GET /v1/messages/{id} has them
    cursor = page["next_cursor"]
    assert cursor is not None
    await send(client, env, to=[FR])  # newer: not in the next page
    resp = await client.get("/v1/messages", params={"limit": "2"}, headers=env.auth())
    assert 'rel="next"' in resp.headers["Link"]
    status, rest = await get(client, env, "/v1/messages", limit="2", cursor=cursor)
    assert [m["id"] for m in rest["messages"]] == sorted(ids, reverse=True)[2:]
    assert rest["next_cursor"] is None


async def test_messages_list_filters_and_shows_only_the_account(client: Client, env: Env) -> None:
    sent = await send(client, env, to=[FR, BE])
    await env.store.cancel(sent["messages"][0]["id"])
    _, cancelled = await get(client, env, "/v1/messages", status="cancelled")
    assert [m["id"] for m in cancelled["messages"]] == [sent["messages"][0]["id"]]
    _, none = await get(client, env, "/v1/messages", until="2000-01-01T00:00:00Z")
    assert none["messages"] == []
    _, every = await get(client, env, "/v1/messages", since="2000-01-01T00:00:00+01:00")
    assert len(every["messages"]) == 2
    _, other = await get(client, env, "/v1/messages", token=env.other_token)
    assert other["messages"] == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "0"}, "invalid_value"),
        ({"limit": "1001"}, "invalid_value"),
        ({"limit": "ten"}, "invalid_value"),
        ({"status": "lost"}, "invalid_value"),
        ({"since": "yesterday"}, "invalid_value"),
        ({"until": "2026-12-01T09:00:00"}, "invalid_value"),  # no time zone
        ({"cursor": "bm90IGEgY3Vyc29y"}, "invalid_value"),
        ({"cursor": "!!"}, "invalid_value"),
        ({"sinse": "2026-12-01T09:00:00Z"}, "unknown_parameter"),
    ],
)
async def test_messages_list_refuses_bad_parameters(
    client: Client, env: Env, params: dict[str, str], error: str
) -> None:
    status, body = await get(client, env, "/v1/messages", **params)
    assert (status, body["error"]) == (400, error)
    assert set(body) == {"error", "detail"}


async def test_a_journal_cursor_is_not_a_messages_cursor(client: Client, env: Env) -> None:
    await send(client, env, to=[FR])
    await send(client, env, to=[FR])
    _, journal = await get(client, env, "/v1/journal", limit="1")
    status, body = await get(client, env, "/v1/messages", cursor=journal["next_cursor"])
    assert (status, body["error"]) == (400, "invalid_value")
    assert "cursor" in body["detail"]


# --- POST /v1/quote ---------------------------------------------------------------------


async def test_quote_counts_and_prices_and_stores_nothing(client: Client, env: Env) -> None:
    text = "x" * 161  # two GSM segments
    status, body = await quote(client, env, {"from": "ACME", "to": [FR, BE, DE], "text": text})
    assert status == 200
    assert (body["encoding"], body["characters"], body["segments"]) == ("gsm7", 161, 2)
    assert body["recipients"] == [
        {"to": FR, "segments": 2, "credits": 2},
        {"to": BE, "segments": 2, "credits": 4},
    ]
    assert body["credits"] == 6
    assert [(r["to"], r["error"]) for r in body["refused"]] == [(DE, "no_price")]
    assert await env.store.list_messages(account="acme") == []
    assert (await env.store.balance("acme")).balance == 100


async def test_quote_refuses_as_a_send_would(client: Client, env: Env) -> None:
    status, body = await quote(
        client, env, {"from": "PENDING", "to": [FR], "text": "hi"}, token=env.poor_token
    )
    assert (status, body["error"]) == (403, "sender_not_allowed")
    status, body = await quote(client, env, {"from": "ACME", "to": [FR], "text": " "})
    assert (status, body["error"]) == (400, "empty_text")
    status, body = await quote(client, env, {"from": "ACME", "to": [FR], "txt": "hi"})
    assert (status, body["error"]) == (400, "unknown_field")


# --- phonebooks in sends ----------------------------------------------------------------


async def test_send_and_quote_to_a_phonebook(client: Client, env: Env) -> None:
    await env.store.create_phonebook("acme", "team")
    contacts = [PhonebookContact(name="Ann", number=FR2), PhonebookContact(name="Bob", number=FR)]
    await env.store.import_contacts("acme", "team", contacts)
    status, body = await quote(client, env, {"from": "ACME", "phonebook": "team", "text": "hi"})
    assert status == 200
    assert [r["to"] for r in body["recipients"]] == [FR2, FR]  # the phonebook's order
    sent = await send(client, env, to=[BE, FR], phonebook="team")
    assert [m["to"] for m in sent["messages"]] == [BE, FR, FR2]  # each number once


async def test_send_to_an_unknown_phonebook_is_refused(client: Client, env: Env) -> None:
    resp = await client.post(
        "/v1/messages",
        data=json.dumps({"from": "ACME", "phonebook": "nope", "text": "hi"}),
        headers=env.auth(),
    )
    body = await resp.json()
    assert (resp.status, body["error"]) == (400, "invalid_recipient")
    assert "nope" in body["detail"]
    resp = await client.post(
        "/v1/messages", data=json.dumps({"from": "ACME", "text": "hi"}), headers=env.auth()
    )
    assert (resp.status, (await resp.json())["error"]) == (400, "missing_field")


# --- GET /v1/journal ---------------------------------------------------------------------


async def test_journal_json_newest_first_with_the_messages(client: Client, env: Env) -> None:
    sent = await send(client, env, to=[BE])
    status, body = await get(client, env, "/v1/journal")
    assert status == 200
    debit, topup = body["entries"]
    assert (debit["kind"], debit["amount"], debit["balance_after"]) == ("debit", -2, 98)
    assert (debit["message"], debit["destination"], debit["segments"]) == (
        sent["messages"][0]["id"],
        BE,
        1,
    )
    assert (topup["kind"], topup["reference"], topup["message"]) == ("topup", "init-acme", None)
    assert topup["date"].endswith("Z")
    assert body["next_cursor"] is None


async def test_journal_as_csv_by_accept_or_format_in_pages(client: Client, env: Env) -> None:
    sent = await send(client, env, to=[FR, BE])
    await env.store.adjust("acme", -5, note='goodwill, "sorry"')
    by_accept = await client.get("/v1/journal", headers={**env.auth(), "Accept": "text/csv"})
    assert by_accept.content_type == "text/csv"
    text = await by_accept.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "date",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "message",
        "destination",
        "segments",
    ]
    assert rows[1][1:5] == ["adjustment", "-5", "92", 'goodwill, "sorry"']
    assert rows[3][1:] == ["debit", "-1", "99", "", sent["messages"][0]["id"], FR, "1"]
    assert rows[4][1:5] == ["topup", "100", "100", "init-acme"]
    assert text.endswith("\r\n")
    first = await client.get(
        "/v1/journal", params={"format": "csv", "limit": "2"}, headers=env.auth()
    )
    assert first.content_type == "text/csv"
    assert len(list(csv.reader(io.StringIO(await first.text())))) == 3
    link = first.headers["Link"]
    assert link.startswith("</v1/journal?")
    assert link.endswith('>; rel="next"')
    rest = await client.get(link[1 : link.index(">")], headers=env.auth())
    later = list(csv.reader(io.StringIO(await rest.text())))
    assert [r[1] for r in later[1:]] == ["debit", "topup"]
    assert "Link" not in rest.headers


async def test_journal_refuses_a_bad_format(client: Client, env: Env) -> None:
    status, body = await get(client, env, "/v1/journal", format="xml")
    assert (status, body["error"]) == (400, "invalid_value")


# --- /v1/senders -------------------------------------------------------------------------


async def test_sender_request_is_pending_with_its_reason(client: Client, env: Env) -> None:
    resp = await client.post(
        "/v1/senders",
        data=json.dumps({"value": "ACMESHOP", "reason": "our web shop"}),
        headers=env.auth(),
    )
    assert resp.status == 201
    asked = await resp.json()
    assert (asked["value"], asked["kind"], asked["status"], asked["reason"]) == (
        "ACMESHOP",
        "alpha",
        "pending",
        "our web shop",
    )
    await env.store.set_sender_status("acme", "ACMESHOP", SenderStatus.REFUSED, reason="no proof")
    _, listed = await get(client, env, "/v1/senders")
    shop = next(s for s in listed["senders"] if s["value"] == "ACMESHOP")
    assert (shop["status"], shop["reason"], shop["refusal_reason"]) == (
        "refused",
        "our web shop",
        "no proof",
    )
    assert [s["value"] for s in listed["senders"]] == ["ACME", "ACMESHOP"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"value": "ACME"}, 409, "conflict"),
        ({"value": "THIS NAME IS FAR TOO LONG"}, 400, "invalid_sender"),
        ({"value": "ACME2", "kind": "fax"}, 400, "invalid_value"),
        ({"value": "ACME2", "reason": "x" * 501}, 400, "invalid_value"),
        ({"value": 7}, 400, "wrong_type"),
        ({"kind": "alpha"}, 400, "missing_field"),
        ({"value": "ACME2", "why": "x"}, 400, "unknown_field"),
        ([], 400, "not_an_object"),
    ],
)
async def test_sender_request_refusals(
    client: Client, env: Env, body: Any, status: int, error: str
) -> None:
    resp = await client.post("/v1/senders", data=json.dumps(body), headers=env.auth())
    assert (resp.status, (await resp.json())["error"]) == (status, error)


# --- /v1/tokens ---------------------------------------------------------------------------


async def test_tokens_listed_without_secrets_and_revoked(client: Client, env: Env) -> None:
    record, second = await env.store.create_token("acme", name="Shop (prod)")
    status, body = await get(client, env, "/v1/tokens")
    assert status == 200
    assert [t["id"] for t in body["tokens"]][-1] == record.id
    assert env.token not in json.dumps(body)
    assert second not in json.dumps(body)
    assert set(body["tokens"][0]) == {"id", "name", "prefix", "created_at"}
    assert [t["name"] for t in body["tokens"]] == [None, "Shop (prod)"]
    resp = await client.delete(f"/v1/tokens/{record.id}", headers=env.auth())
    revoked = await resp.json()
    assert (resp.status, revoked["name"], revoked["revoked"]) == (200, "Shop (prod)", True)
    status, _ = await get(client, env, "/v1/balance", token=second)
    assert status == 401
    again = await client.delete(f"/v1/tokens/{record.id}", headers=env.auth())
    assert (again.status, (await again.json())["error"]) == (404, "not_found")


async def test_a_token_of_another_account_is_not_found(client: Client, env: Env) -> None:
    [theirs] = await env.store.list_tokens("other")
    resp = await client.delete(f"/v1/tokens/{theirs.id}", headers=env.auth())
    assert (resp.status, (await resp.json())["error"]) == (404, "not_found")
    assert await env.store.account_for_token(env.other_token) == "other"
    bad = await client.delete("/v1/tokens/first", headers=env.auth())
    assert (bad.status, (await bad.json())["error"]) == (400, "invalid_value")


async def test_an_account_may_revoke_the_token_it_uses(client: Client, env: Env) -> None:
    [mine] = await env.store.list_tokens("acme")
    resp = await client.delete(f"/v1/tokens/{mine.id}", headers=env.auth())
    assert resp.status == 200
    status, _ = await get(client, env, "/v1/tokens")
    assert status == 401
