"""Log-in, sessions and CSRF for the console's pages.

Choices made here:

- The session cookie holds a random token; the store keeps its hash, so
  sessions work on every daemon (and worker) of one store. The cookie is
  HttpOnly, SameSite=Lax, limited to the console's path, and Secure when the
  request came over https.
- Every POST carries the page's CSRF token (a form field ``csrf``): the
  session's once logged in; before that (the log-in form) the value of a
  cookie of its own (double submit). A POST without it, or with another
  one, is refused with 403 before anything else is read or done.
- Wrong passwords are counted in the store: after ``max_failures`` in a row
  the login is refused for ``lock_seconds`` whatever the password; a
  success resets the count. An unknown email, a disabled login and a wrong
  password read the same, so emails cannot be probed.
- A login with a one-time password (``smsgw login create``) sees only the
  "New password" form until it chose one.
- Log events name the email, never a password or a token.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.console.keys import CSRF, NEW_ANON, SESSION
from gateway.console.render import Renderer
from gateway.console.settings import ConsoleSettings
from gateway.model.clock import Clock
from gateway.model.errors import UserError
from gateway.model.logins import ConsoleSession
from gateway.store.base import Store
from gateway.store.logins import (
    check_password_rules,
    hash_password,
    normalize_email,
    verify_password,
)

SESSION_COOKIE = "smsgw_session"
ANON_COOKIE = "smsgw_csrf"  # the log-in form's CSRF token (before any session)
_MAX_FIELD = 320  # longest email or password read (longer: refused)
# public paths (no session needed): the dashboard shows the log-in form
PUBLIC = frozenset({"/", "/login"})
# every page: scripts and styles of the console's own (htmx, its stylesheet), no
# framing (clickjacking), forms posted to the console only
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# what a login with a one-time password may reach (every other page: the form)
FIRST_PASSWORD = frozenset({"/password", "/logout"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth:
    def __init__(
        self,
        *,
        store: Store,
        settings: ConsoleSettings,
        renderer: Renderer,
        logger: Any,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.render = renderer
        self.log = logger
        self.clock = clock
        self.root = settings.path
        # checked for an unknown email too, so that a wrong email takes as long
        # as a wrong password (emails cannot be told apart by timing)
        self._decoy = hash_password(secrets.token_urlsafe(16))

    # --- middleware -------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(self.root + "/static/"):
            return await handler(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await self.store.get_session(token) if 0 < len(token) <= 100 else None
        request[SESSION] = session
        anon = None
        if session is not None:
            request[CSRF] = session.csrf
        else:
            anon = request.cookies.get(ANON_COOKIE, "")
            if not 20 <= len(anon) <= 100:
                anon = secrets.token_urlsafe(32)
                request[NEW_ANON] = anon
            request[CSRF] = anon
        if request.method == "POST":
            await self._check_csrf(request, session)
        sub = request.path.removeprefix(self.root) or "/"
        if session is None and sub not in PUBLIC:
            if request.headers.get("HX-Request"):
                raise web.HTTPUnauthorized
            raise web.HTTPSeeOther(self.root + "/")
        if session is not None and session.login.must_change and sub not in FIRST_PASSWORD:
            response: web.StreamResponse = self.render.page(request, "password.html")
        else:
            response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        new_anon = request.get(NEW_ANON)
        if new_anon:
            self._cookie(request, response, ANON_COOKIE, new_anon, max_age=None)
        return response

    async def _check_csrf(self, request: web.Request, session: ConsoleSession | None) -> None:
        form = await request.post()
        given = form.get("csrf")
        expected = session.csrf if session is not None else request.cookies.get(ANON_COOKIE)
        if (
            not isinstance(given, str)
            or not expected
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            self.log.warning("console_csrf_refused", path=request.path)
            raise web.HTTPForbidden(text="refused: the form's CSRF token is missing or wrong")

    def _cookie(
        self,
        request: web.Request,
        response: web.StreamResponse,
        name: str,
        value: str,
        *,
        max_age: float | None,
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=self.root,
            httponly=True,
            samesite="Lax",
            secure=request.secure,
            max_age=int(max_age) if max_age is not None else None,
        )

    # --- handlers ---------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        email = _field(form, "email")
        password = _field(form, "password")
        login = await self.store.get_login(email) if email else None
        now = self.clock()
        if login is not None and login.locked_until is not None and login.locked_until > now:
            self.log.info("console_login_locked", email=login.email)
            return self._login_form(request, email, _locked_message(), status=429)
        usable = login is not None and not login.disabled and bool(password)
        stored = login.password_hash if login is not None and usable else self._decoy
        ok = await asyncio.to_thread(verify_password, password, stored) and usable
        if login is None or not ok:
            message = "Wrong email or password."
            if login is not None and not login.disabled:
                login = await self.store.login_failed(
                    login.email,
                    max_failures=self.settings.max_failures,
                    lock_seconds=self.settings.lock_seconds,
                )
                if login.locked_until is not None and login.locked_until > now:
                    message = _locked_message()
            self.log.info("console_login_failed", email=normalize_email(email)[:_MAX_FIELD])
            return self._login_form(request, email, message, status=401)
        _, token = await self.store.create_session(login.email, ttl=self.settings.session_seconds)
        self.log.info("console_logged_in", email=login.email, account=login.account)
        response = see_other(self.root + "/")
        self._cookie(
            request, response, SESSION_COOKIE, token, max_age=self.settings.session_seconds
        )
        response.del_cookie(ANON_COOKIE, path=self.root)
        request.pop(NEW_ANON, None)
        return response

    def _login_form(
        self, request: web.Request, email: str, error: str, *, status: int
    ) -> web.Response:
        return self.render.page(
            request, "login.html", {"email": email, "error": error}, status=status
        )

    async def logout(self, request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(SESSION_COOKIE, "")
        session: ConsoleSession | None = request[SESSION]
        if token:
            await self.store.end_session(token)
        if session is not None:
            self.log.info("console_logged_out", email=session.login.email)
        response = see_other(self.root + "/")
        response.del_cookie(SESSION_COOKIE, path=self.root)
        return response

    async def password(self, request: web.Request) -> web.StreamResponse:
        session = request[SESSION]
        if session is None:  # the middleware lets no such request through
            raise web.HTTPSeeOther(self.root + "/")
        form = await request.post()
        new = _field(form, "new_password")
        again = _field(form, "repeat_password")
        try:
            if new != again:
                raise UserError("the two passwords differ: type the same one twice")
            check_password_rules(new)
        except UserError as exc:
            return self.render.page(request, "password.html", {"error": str(exc)}, status=400)
        hashed = await asyncio.to_thread(hash_password, new)
        # every session of the login ends (one opened with a stolen password too);
        # this browser gets a new one
        await self.store.set_login_password(session.login.email, hashed)
        _, token = await self.store.create_session(
            session.login.email, ttl=self.settings.session_seconds
        )
        self.log.info("console_password_changed", email=session.login.email)
        response = see_other(self.root + "/")
        self._cookie(
            request, response, SESSION_COOKIE, token, max_age=self.settings.session_seconds
        )
        return response


def see_other(location: str) -> web.Response:
    """A 303 to ``location`` (after a POST: the browser GETs it)."""
    return web.Response(status=303, headers={"Location": location})


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    return value[:_MAX_FIELD]


def _locked_message() -> str:
    return "Too many wrong passwords: this login is locked for a while. Try again later."
