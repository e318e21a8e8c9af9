"""What the console's middleware leaves on a request for its handlers and pages."""

from __future__ import annotations

from aiohttp import web

from gateway.model.logins import ConsoleSession

SESSION: web.RequestKey[ConsoleSession | None] = web.RequestKey("console_session")
CSRF: web.RequestKey[str] = web.RequestKey("console_csrf")  # the forms' token
NEW_ANON: web.RequestKey[str] = web.RequestKey("console_new_anon")  # a log-in form's new token
PAGE: web.RequestKey[str] = web.RequestKey("console_page")  # the navigation link to mark
