"""The console's phonebooks: create one, import a CSV file (rows refused are
listed with their line numbers), add, rename and remove contacts, send to one.

The CSV rules are gateway.ingress.recipient_csv's (``read_contacts_csv``); a
contact added or renamed is an import of one contact (the store's
``import_contacts``), so every way in keeps one rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import account_of, form_text
from gateway.console.render import Renderer
from gateway.ingress.recipient_csv import read_contacts_csv
from gateway.ingress.recipients import normalize_e164
from gateway.model.errors import NotFound, UserError
from gateway.model.records import PhonebookContact
from gateway.store.base import Store


class PhonebookPages:
    def __init__(self, *, store: Store, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.render = renderer
        self.log = logger

    def _url(self, name: str) -> str:
        return f"{self.render.root}/phonebooks/{quote(name, safe='')}"

    async def index(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        account = account_of(request)
        request[PAGE] = "/phonebooks"
        return self.render.page(
            request,
            "phonebooks.html",
            {"books": await self.store.list_phonebooks(account), "error": error},
            status=status,
        )

    async def create(self, request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        form = await request.post()
        name = form_text(form, "name", limit=64)
        try:
            await self.store.create_phonebook(account, name)
        except UserError as exc:
            return await self.index(request, error=str(exc), status=400)
        self.log.info("console_phonebook_created", account=account, phonebook=name)
        return see_other(self._url(name))

    async def show(
        self,
        request: web.Request,
        *,
        error: str = "",
        notice: str = "",
        rows: tuple[Any, ...] = (),
        status: int = 200,
    ) -> web.Response:
        account = account_of(request)
        name = request.match_info["name"]
        try:
            contacts = await self.store.phonebook_contacts(account, name)
        except NotFound:
            raise NotFound(f"no phonebook {name[:64]!r}") from None
        request[PAGE] = "/phonebooks"
        return self.render.page(
            request,
            "phonebook.html",
            {
                "name": name,
                "url": self._url(name),
                "contacts": contacts,
                "error": error,
                "notice": notice,
                "rows": rows,
            },
            status=status,
        )

    async def add(self, request: web.Request) -> web.StreamResponse:
        """Add a contact, or rename one (the same number)."""
        account = account_of(request)
        name = request.match_info["name"]
        form = await request.post()
        try:
            number = normalize_e164(form_text(form, "number", limit=64))
            contact = PhonebookContact(
                name=" ".join(form_text(form, "contact", limit=100).split()), number=number
            )
            await self.store.import_contacts(account, name, [contact])
        except NotFound:
            raise
        except UserError as exc:
            return await self.show(request, error=str(exc), status=400)
        self.log.info("console_contact_saved", account=account, phonebook=name)
        return see_other(self._url(name))

    async def remove(self, request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        name = request.match_info["name"]
        form = await request.post()
        number = form_text(form, "number", limit=64)
        await self.store.remove_contact(account, name, number)  # NotFound: 404
        self.log.info("console_contact_removed", account=account, phonebook=name)
        return see_other(self._url(name))

    async def import_csv(self, request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        name = request.match_info["name"]
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or not upload.filename:
            return await self.show(request, error="choose a CSV file to import", status=400)
        try:
            text = upload.file.read().decode("utf-8-sig")
            listed = read_contacts_csv(text)
        except UnicodeDecodeError:
            return await self.show(
                request,
                error=f"{upload.filename}: not UTF-8 text; save it as CSV UTF-8",
                status=400,
            )
        except UserError as exc:
            return await self.show(request, error=f"{upload.filename}: {exc}", status=400)
        contacts = [PhonebookContact(name=c.name, number=c.number) for c in listed.contacts]
        added, updated = await self.store.import_contacts(account, name, contacts)
        self.log.info(
            "console_contacts_imported",
            account=account,
            phonebook=name,
            added=added,
            updated=updated,
            invalid=len(listed.errors),
        )
        notice = f"{added} added, {updated} updated, {len(listed.errors)} rows refused"
        return await self.show(request, notice=notice, rows=listed.errors)
