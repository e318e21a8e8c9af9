"""The account's SMPP credentials in the console (/smpp, when the daemon runs
the SMPP server): listed with their limits, never a password hash; a new one
shows its password once (the store keeps only its hash), as ``smsgw esme
create`` does. The store's rules check the system_id, max binds, throughput
and allow list.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.console.keys import PAGE
from gateway.console.pages import account_of, form_text
from gateway.console.render import Renderer
from gateway.model.errors import UserError
from gateway.store.base import Store
from gateway.store.esme_credentials import MAX_BINDS, MAX_THROUGHPUT


def whole(raw: str, *, what: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not low <= int(raw) <= high:
        raise UserError(f"bad {what} {raw[:20]!r}: a whole number from {low} to {high:,}")
    return int(raw)


class SmppPages:
    def __init__(self, *, store: Store, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.render = renderer
        self.log = logger

    async def credentials(
        self,
        request: web.Request,
        *,
        created: tuple[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        account = account_of(request)
        request[PAGE] = "/smpp"
        rows = await self.store.list_esme_credentials(account)
        return self.render.page(
            request,
            "smpp.html",
            {"credentials": rows, "created": created, "error": error},
            status=status,
        )

    async def create(self, request: web.Request) -> web.Response:
        account = account_of(request)
        form = await request.post()
        system_id = form_text(form, "system_id", limit=40)
        try:
            binds = form_text(form, "max_binds", limit=20) or "1"
            max_binds = whole(binds, what="max binds", low=1, high=MAX_BINDS)
            raw = form_text(form, "throughput", limit=20)
            throughput = whole(raw, what="throughput", low=1, high=MAX_THROUGHPUT) if raw else None
            allow = [a for a in re.split(r"[\s,]+", form_text(form, "allow")) if a]
            credential, password = await self.store.create_esme_credential(
                account, system_id, max_binds=max_binds, throughput=throughput, allow=allow
            )
        except UserError as exc:
            return await self.credentials(request, error=str(exc), status=400)
        self.log.info("console_esme_created", account=account, system_id=credential.system_id)
        return await self.credentials(request, created=(credential.system_id, password))
