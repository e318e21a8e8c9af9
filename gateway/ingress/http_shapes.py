"""The JSON the account's lists and quotes answer (README: HTTP API; described in
gateway/ingress/openapi.json): messages in a list, journal rows, senders,
tokens (never their secrets), a quote. Times are ISO 8601 UTC with
milliseconds, as gateway.ingress.http_schema gives them.
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.journal import JournalRow
from gateway.ingress.http_schema import iso_time
from gateway.ingress.pipeline import Quote
from gateway.model.records import ApiToken, Message, Sender

__all__ = ["journal_json", "message_summary_json", "quote_json", "sender_json", "token_json"]


def message_summary_json(m: Message) -> dict[str, Any]:
    """A message in a list: ``GET /v1/messages/{id}`` without its segments."""
    return {
        "id": m.id,
        "from": m.sender,
        "to": m.destination,
        "state": m.state.value,
        "error": m.error,
        "text": m.text,
        "encoding": m.encoding,
        "segment_count": m.segments,
        "credits": m.credits,
        "class": None if m.msg_class.value == "standard" else m.msg_class.value,
        "priority": m.priority,
        "client_ref": m.client_ref,
        "send_at": iso_time(m.send_at),
        "created_at": iso_time(m.created_at),
        "updated_at": iso_time(m.updated_at),
    }


def journal_json(row: JournalRow) -> dict[str, Any]:
    e = row.entry
    return {
        "id": e.id,
        "date": iso_time(e.at),
        "kind": e.kind.value,
        "amount": e.amount,
        "balance_after": e.balance_after,
        "reference": e.reference,
        "note": e.note,
        "message": e.message_id,
        "destination": row.destination,
        "segments": row.segments,
    }


def sender_json(s: Sender) -> dict[str, Any]:
    return {
        "value": s.value,
        "kind": s.kind.value,
        "status": s.status.value,
        "reason": s.request_reason,
        "refusal_reason": s.reason if s.status.value == "refused" else None,
        "created_at": iso_time(s.created_at),
        "updated_at": iso_time(s.updated_at),
    }


def token_json(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": iso_time(t.created_at)}


def quote_json(q: Quote) -> dict[str, Any]:
    return {
        "encoding": q.encoding,
        "characters": q.characters,
        "segments": q.segments,
        "credits": q.credits,
        "recipients": [
            {"to": r.destination, "segments": q.segments, "credits": r.credits}
            for r in q.recipients
        ],
        "refused": [
            {"to": r.destination, "error": r.error.code, "detail": str(r.error)} for r in q.refused
        ],
    }
