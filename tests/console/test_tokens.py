"""The console's API tokens page, in Debian's chromium (tests/console/conftest.py): a
token made with a name, listed with it (here and by the HTTP API), revoked."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect

from tests.console.conftest import Console, log_in
from tests.waiting import eventually

NAME = "Shop (prod)"


async def _tokens_by_http(console: Console, token: str) -> tuple[int, Any]:
    system = console.system
    headers = {"Authorization": f"Bearer {token}"}
    async with system.http.get(f"{system.base}/v1/tokens", headers=headers) as r:
        return r.status, await r.json()


async def test_a_named_token_is_listed_with_its_name_and_revoked(
    console: Console, page: Page
) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Tokens", exact=True).click()
    revoke = page.get_by_role("button", name=re.compile("^Revoke token"))
    await expect(revoke).to_have_count(1)  # the one made by the test setup, with no name
    await page.get_by_label("Name", exact=True).fill(f"  {NAME} ")  # spaces around: trimmed
    await page.get_by_role("button", name="Create token").click()
    token = (await page.get_by_label("New token").inner_text()).strip()
    assert token.startswith("smsgw_")
    row = page.get_by_role("row", name=re.compile(re.escape(NAME)))
    await expect(row).to_contain_text(token[:12])
    await expect(revoke).to_have_count(2)
    # the HTTP API lists it with its name, to the new token itself
    status, body = await _tokens_by_http(console, token)
    assert status == 200
    assert [t["name"] for t in body["tokens"]] == [None, NAME]
    # a name past 64 characters is refused with its one-line reason, no token made
    await page.get_by_label("Name", exact=True).evaluate("e => e.removeAttribute('maxlength')")
    await page.get_by_label("Name", exact=True).fill("x" * 65)
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_role("alert")).to_contain_text("bad token name")
    await expect(page.get_by_role("alert")).to_contain_text("1-64 printable characters")
    await expect(page.get_by_label("New token")).to_have_count(0)
    await expect(revoke).to_have_count(2)
    named_id = body["tokens"][1]["id"]
    await page.get_by_role("button", name=f"Revoke token {named_id} ({NAME})").click()
    await expect(revoke).to_have_count(1)
    await expect(page.get_by_role("row", name=re.compile(re.escape(NAME)))).to_have_count(0)

    async def refused() -> bool:  # within a second (gateway.ingress.tokens)
        status, _ = await _tokens_by_http(console, token)
        return status == 401

    await eventually(refused, timeout=10, what="the revoked token refused")
