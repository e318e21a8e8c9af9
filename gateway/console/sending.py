"""The console's send page: the form, the live counter, and the send itself
through the one send pipeline (:class:`~gateway.ingress.pipeline.SendService`).

Choices made here:

- The counter is the server's codec (:func:`gateway.codec.analyze`), asked
  by htmx as the person types (debounced); without JavaScript the "Count"
  button posts the form back and the page shows the same counter and cost.
- Recipients come from the numbers typed (one per line, or separated by
  commas or semicolons), a CSV file (gateway.ingress.recipient_csv) and a
  phonebook, merged with each number once; numbers that are not valid are
  listed as refused (with the file's line numbers), the others are sent.
- "Send at" is a date and time in UTC.
- The confirmation (accepted count, refusals) is rendered after
  :meth:`SendService.send` returned, which is after the store committed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.accounting.pricing import PriceList
from gateway.codec import analyze
from gateway.console.keys import PAGE
from gateway.console.pages import account_of, form_text
from gateway.console.render import Renderer
from gateway.ingress.pipeline import SendRequest, SendService
from gateway.ingress.recipient_csv import read_recipient_csv
from gateway.ingress.recipients import check_e164, merge_recipients
from gateway.model.errors import InvalidRecipient, UserError
from gateway.model.message import MessageClass, SenderStatus
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store

CHANNEL = "console"  # the messages_accepted label of what the console sends
MAX_TEXT = 40_000  # characters read from the Message field
MAX_TYPED = 10_000  # recipients typed in the Recipients field
_SPLIT = re.compile(r"[\n,;]+")
CLASSES = (("standard", "Standard"), ("flash", "Flash"), ("sim", "SIM"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    where: str  # "Recipients", "Recipient file line 3", or the number
    value: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """What the counter shows."""

    label: str  # "161 characters, 2 SMS, GSM 7-bit" (or why the text cannot be sent)
    remaining: str  # "145 characters left in the last SMS"
    cost: str  # "2 recipients: 4 credits"


def counter_label(text: str, national: Sequence[str]) -> tuple[str, str, int]:
    """(counter, remaining, segments) as the codec counts ``text``."""
    try:
        info = analyze(text, national=tuple(national))
    except UserError as exc:
        return f"{len(text)} characters: {exc}", "", 0
    encoding = "GSM 7-bit" if info.encoding == "gsm7" else "UCS-2"
    chars = "character" if info.characters == 1 else "characters"
    label = f"{info.characters} {chars}, {info.segments} SMS, {encoding}"
    unit = "characters" if info.encoding == "ucs2" else "septets"
    return label, f"{info.remaining} {unit} left in the last SMS", info.segments


def typed_numbers(raw: str) -> tuple[list[str], list[Refusal]]:
    numbers: list[str] = []
    refused: list[Refusal] = []
    for cell in _SPLIT.split(raw)[:MAX_TYPED]:
        if not cell.strip():
            continue
        number, reason = check_e164(cell)
        if number is None:
            refused.append(Refusal(where="Recipients", value=cell.strip()[:40], reason=reason))
        else:
            numbers.append(number)
    return numbers, refused


class SendPage:
    def __init__(
        self,
        *,
        store: Store,
        send_service: SendService,
        renderer: Renderer,
        logger: Any,
        metrics: IngressMetrics | None,
        national: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.send_service = send_service
        self.render = renderer
        self.log = logger
        self.metrics = metrics
        self.national = tuple(national)

    async def _cost(self, account: str, numbers: Sequence[str], segments: int) -> str:
        if not numbers:
            return "No recipient yet."
        prices = PriceList(
            own=await self.store.list_prices(account=account),
            default=await self.store.list_prices(),
        )
        total = 0
        unpriced = 0
        for number in numbers:
            try:
                total += prices.price(number) * segments
            except UserError:
                unpriced += 1
        who = "recipient" if len(numbers) == 1 else "recipients"
        text = f"{len(numbers)} {who}: {total} credit{'' if total == 1 else 's'}"
        if unpriced:
            text += f" ({unpriced} without a price, refused)"
        return text

    async def _recipients_known(self, account: str, form: Any) -> list[str]:
        """The typed numbers and the phonebook's (what the counter can see)."""
        numbers, _ = typed_numbers(form_text(form, "recipients", limit=500_000))
        book = form_text(form, "phonebook", limit=64)
        contacts: list[str] = []
        if book:
            try:
                contacts = [c.number for c in await self.store.phonebook_contacts(account, book)]
            except UserError:
                contacts = []
        return list(merge_recipients(numbers, contacts))

    async def count(self, account: str, form: Any) -> Count:
        text = _text(form)
        label, remaining, segments = counter_label(text, self.national)
        numbers = await self._recipients_known(account, form)
        return Count(
            label=label, remaining=remaining, cost=await self._cost(account, numbers, segments)
        )

    async def counter(self, request: web.Request) -> web.Response:
        """The counter fragment htmx asks for as the person types (a POST: a text
        of any length fits in its body, and it carries the form's CSRF token)."""
        account = account_of(request)
        count = await self.count(account, await request.post())
        return self.render.page(request, "counter.html", {"count": count})

    async def form(
        self,
        request: web.Request,
        values: Any,
        *,
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        account = account_of(request)
        senders = [
            s.value
            for s in await self.store.list_senders(account)
            if s.status is SenderStatus.APPROVED
        ]
        books = [b.name for b in await self.store.list_phonebooks(account)]
        request[PAGE] = "/send"
        return self.render.page(
            request,
            "send.html",
            {
                "senders": senders,
                "phonebooks": books,
                "classes": CLASSES,
                "form": {
                    "sender": form_text(values, "sender", limit=64),
                    "recipients": form_text(values, "recipients", limit=500_000)
                    or form_text(values, "to", limit=64),
                    "phonebook": form_text(values, "phonebook", limit=64),
                    "message": _text(values),
                    "class": form_text(values, "class", limit=20) or "standard",
                    "send_at": form_text(values, "send_at", limit=40),
                },
                "count": await self.count(account, values),
                "error": error,
            },
            status=status,
        )

    async def show(self, request: web.Request) -> web.Response:
        return await self.form(request, request.query)

    async def send(self, request: web.Request) -> web.Response:
        account = account_of(request)
        form = await request.post()
        if form.get("action") == "count":
            return await self.form(request, form)
        try:
            send_request, refused = await self._request(account, form)
            result = await self.send_service.send(send_request)
        except UserError as exc:
            if self.metrics is not None:
                self.metrics.message_rejected(account=account, reason=exc.code)
            self.log.info("console_message_rejected", account=account, error=exc.code)
            return await self.form(request, form, error=str(exc), status=400)
        fresh = [a for a in result.accepted if not a.duplicate]
        if self.metrics is not None:
            if fresh:
                self.metrics.message_accepted(account=account, channel=CHANNEL, count=len(fresh))
            for reason, n in Counter(r.error.code for r in result.refused).items():
                self.metrics.message_rejected(account=account, reason=reason, count=n)
        refused += [
            Refusal(where=r.destination, value=r.destination, reason=str(r.error))
            for r in result.refused
        ]
        self.log.info(
            "console_message_accepted", account=account, count=len(fresh), refused=len(refused)
        )
        request[PAGE] = "/send"
        return self.render.page(
            request,
            "sent.html",
            {
                "accepted": result.accepted,
                "refused": refused,
                "segments": result.segments,
                "credits": sum(a.message.credits for a in fresh),
            },
        )

    async def _request(self, account: str, form: Any) -> tuple[SendRequest, list[Refusal]]:
        numbers, refused = typed_numbers(form_text(form, "recipients", limit=500_000))
        listed: tuple[str, ...] = ()
        upload = form.get("recipient_file")
        if isinstance(upload, web.FileField) and upload.filename:
            data = upload.file.read()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise UserError(
                    f"Recipient file {upload.filename}: not UTF-8 text; save it as CSV UTF-8"
                ) from None
            try:
                recipients = read_recipient_csv(text)
            except UserError as exc:
                raise UserError(f"Recipient file {upload.filename}: {exc}") from None
            listed = recipients.numbers
            refused += [
                Refusal(where=f"Recipient file line {e.line}", value=e.value, reason=e.reason)
                for e in recipients.errors
            ]
        book = form_text(form, "phonebook", limit=64)
        contacts: list[str] = []
        if book:
            contacts = [c.number for c in await self.store.phonebook_contacts(account, book)]
        recipients_all = merge_recipients(numbers, listed, contacts)
        if not recipients_all:
            raise InvalidRecipient(
                "no valid recipient: type numbers, choose a file or a phonebook"
                + (f" ({len(refused)} invalid)" if refused else "")
            )
        msg_class = form_text(form, "class", limit=20) or "standard"
        if msg_class not in {c for c, _ in CLASSES}:
            raise UserError(f"bad class {msg_class!r}: standard, flash or SIM")
        request = SendRequest(
            account=account,
            sender=form_text(form, "sender", limit=64),
            recipients=recipients_all,
            text=_text(form),
            msg_class=MessageClass(msg_class),
            send_at=_send_at(form_text(form, "send_at", limit=40)),
        )
        return request, refused


def _text(form: Any) -> str:
    value = form.get("message", "")
    text = value if isinstance(value, str) else ""
    return text.replace("\r\n", "\n")[:MAX_TEXT]


def _send_at(raw: str) -> float | None:
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise UserError(f"Send at {raw!r}: a date and time such as 2026-12-24T09:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
