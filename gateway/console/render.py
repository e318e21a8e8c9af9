"""Pages rendered from the Jinja2 templates of gateway/console/templates.

Autoescaping is on for every template; a page is given the session (or None),
its CSRF token, the console's root path and what the handler adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.console.keys import CSRF, PAGE, SESSION
from gateway.model.isotime import iso_utc

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# the navigation: (path under the root, link name), in order; every page has one
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Dashboard"),
    ("/send", "Send"),
    ("/messages", "Messages"),
    ("/replies", "Replies"),
    ("/senders", "Senders"),
    ("/stoplist", "Stoplist"),
    ("/phonebooks", "Phonebooks"),
    ("/credit", "Credit"),
    ("/tokens", "Tokens"),
)
SMPP_NAV = ("/smpp", "SMPP")  # when the daemon runs the SMPP server


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return iso_utc(seconds).replace("T", " ").removesuffix("Z")[:19] + " UTC"


# a message's encoding as its page names it ("8bit": a binary segment an ESME cut)
ENCODINGS = {"gsm7": "GSM 7-bit", "ucs2": "UCS-2", "8bit": "8-bit binary"}


def _encoding(name: str) -> str:
    return ENCODINGS.get(name, name)


def environment(*, smpp: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["encoding"] = _encoding
    env.globals["nav"] = (*NAV, SMPP_NAV) if smpp else NAV
    return env


class Renderer:
    """Renders a template into a response, with what every page needs."""

    def __init__(self, *, root: str, smpp: bool = False) -> None:
        self.root = root
        self.env = environment(smpp=smpp)

    def page(
        self,
        request: web.Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> web.Response:
        session = request.get(SESSION)
        values = {
            "root": self.root,
            "session": session,
            "csrf": request.get(CSRF, ""),
            "current": request.get(PAGE, ""),
            "error": "",
            **(context or {}),
        }
        text = self.env.get_template(template).render(values)
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
