"""The console over plain HTTP (no browser): cookies, CSRF, what a session may reach."""

from __future__ import annotations

import re

import aiohttp

from tests.console.conftest import EMAIL, PASSWORD, Console

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        match = _CSRF.search(await r.text())
    assert match is not None
    return match.group(1)


async def test_session_cookie_is_http_only_same_site_and_on_the_console_path(
    console: Console,
) -> None:
    # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _csrf(http, console.root + "/")
        form = {"csrf": token, "email": EMAIL, "password": PASSWORD}
        async with http.post(console.root + "/login", data=form, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/console/"
            cookies = [h for h in r.headers.getall("Set-Cookie") if h.startswith("smsgw_session=")]
        [cookie] = cookies
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http here; https requests get Secure
        async with http.get(console.root + "/credit") as r:
            assert r.status == 200
            assert "1000 credits" in await r.text()
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert r.headers["Cache-Control"] == "no-store"


async def test_log_in_form_without_its_csrf_token_is_refused(console: Console) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _csrf(http, console.root + "/")
        form = {"email": EMAIL, "password": PASSWORD}
        async with http.post(console.root + "/login", data=form, allow_redirects=False) as r:
            assert r.status == 403
            assert "smsgw_session" not in r.cookies


async def test_pages_need_a_session(console: Console) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/send", "/messages", "/credit", "/tokens", "/phonebooks/clients"):
            async with http.get(console.root + path, allow_redirects=False) as r:
                assert r.status == 303, path
                assert r.headers["Location"] == "/console/"
        async with http.get(console.root, allow_redirects=False) as r:
            assert r.status == 308
        async with http.get(console.root + "/static/htmx.min.js") as r:
            assert r.status == 200
            assert (await r.text()).startswith("/*! htmx 2.")


async def test_the_api_is_unchanged_beside_the_console(console: Console) -> None:
    status, body = await console.system.send(
        {"from": "ACME", "to": ["+33612345678"], "text": "by the API"}
    )
    assert status == 202, body
    async with aiohttp.ClientSession() as http, http.get(console.system.base + "/v1/balance") as r:
        assert r.status == 401
        assert (await r.json())["error"]


async def test_every_new_form_needs_its_csrf_token_and_every_new_page_a_session(
    console: Console,
) -> None:
    posts = {
        "/credit/orders": {"credits": "500"},
        "/senders": {"kind": "alpha", "value": "NOCSRF", "reason": "x"},
        "/operator/orders/1/paid": {},
        "/operator/orders/1/cancel": {},
        "/operator/stoplist/remove": {"account": "acme", "number": "+33611111111"},
        "/operator/prices": {"prefix": "+33", "credits": "0"},
    }
    async with aiohttp.ClientSession() as http:
        for path in ("/stoplist", "/operator/orders", "/operator/prices", "/operator/queue"):
            async with http.get(console.root + path, allow_redirects=False) as r:
                assert r.status == 303, path
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _csrf(http, console.root + "/")
        form = {"csrf": token, "email": EMAIL, "password": PASSWORD}
        async with http.post(console.root + "/login", data=form) as r:
            assert r.status == 200
        for path, fields in posts.items():
            for csrf in ({}, {"csrf": "guessed"}):
                data = {**fields, **csrf}
                async with http.post(console.root + path, data=data, allow_redirects=False) as r:
                    assert r.status == 403, path
        async with http.get(console.root + "/credit") as r:
            assert "No orders." in await r.text()
        async with http.get(console.root + "/senders") as r:
            assert "NOCSRF" not in await r.text()
