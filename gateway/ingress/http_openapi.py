"""``GET /openapi.json``: the API described in OpenAPI 3.1, the hand-written
document gateway/ingress/openapi.json shipped in the package (a test calls
every route it describes and checks the answers against it, and that the
application has no route it does not describe)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

__all__ = ["openapi_document", "openapi_page"]


@functools.cache
def _text() -> str:
    return resources.files("gateway.ingress").joinpath("openapi.json").read_text("utf-8")


def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_text())
    return document


async def openapi_page(request: web.Request) -> web.Response:
    del request  # the same document for everyone, no authentication
    return web.Response(text=_text(), content_type="application/json", charset="utf-8")
