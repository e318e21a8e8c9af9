"""The operators' accounts page (create an account, set its limits) and failed
webhooks page (try one again), in Debian's chromium (tests/console/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect

from gateway.model.logins import LoginRole
from gateway.model.records import WebhookRecord
from gateway.store import open_store
from gateway.store.logins import hash_password
from tests.console.conftest import Console, log_in
from tests.e2e.system import ACCOUNT
from tests.waiting import eventually

OPERATOR = "ops@op.example"
OPERATOR_PASSWORD = "operator pass"
DEAD_HOOK = "http://127.0.0.1:9/hooks/sms"  # nothing listens there: every attempt fails


async def _add_operator(tmp_path: Path) -> None:
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        await store.create_login(ACCOUNT, OPERATOR, LoginRole.OPERATOR, hash_password("x", n=2**10))
        await store.set_login_password(OPERATOR, hash_password(OPERATOR_PASSWORD, n=2**10))
    finally:
        await store.close()


async def _webhooks(tmp_path: Path, state: str) -> list[WebhookRecord]:
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        return await store.list_webhooks(state=state)
    finally:
        await store.close()


async def _status(page: Page, url: str) -> int:
    response = await page.goto(url)
    assert response is not None
    return response.status


async def _customer_is_refused(console: Console, page: Page, path: str, post: str) -> None:
    await log_in(page, console.root)
    assert await _status(page, console.root + path) == 404  # a customer: no such page
    csrf = await page.locator("input[name=csrf]").first.input_value()
    answer = await page.request.post(console.root + post, form={"csrf": csrf}, max_redirects=0)
    assert answer.status == 404
    await page.get_by_role("button", name="Log out").click()


async def test_an_operator_creates_an_account_and_sets_its_limits(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    await _customer_is_refused(console, page, "/operator/", "/operator/accounts")
    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.get_by_role("link", name="Operator", exact=True).click()
    without = await page.request.post(
        console.root + "/operator/accounts", form={"account": "zeta"}, max_redirects=0
    )
    assert without.status == 403  # no CSRF token
    await page.get_by_label("Account name").fill("zeta")
    await page.get_by_role("button", name="Create", exact=True).click()
    accounts = page.get_by_role("table", name="Accounts")
    await expect(
        accounts.get_by_role("row", name=re.compile(r"^zeta 0 0 0 0 none none"))
    ).to_be_visible()
    await page.get_by_label("Account name").fill("zeta")
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text("account 'zeta' already exists")
    limits = page.get_by_role("form", name="Limits of zeta")
    await limits.get_by_label("Credit limit").fill("500")
    await limits.get_by_label("Monthly cap").fill("10000")
    await limits.get_by_label("Alert below").fill("50")
    await limits.get_by_role("button", name="Set limits of zeta").click()
    row = accounts.get_by_role("row", name=re.compile(r"^zeta 0 500 0 500 10000 50"))
    await expect(row).to_be_visible()
    await limits.get_by_label("Credit limit").fill("-5")
    await limits.get_by_role("button", name="Set limits of zeta").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "zeta: bad credit limit: must not be negative"
    )
    await expect(row).to_be_visible()  # unchanged
    await limits.get_by_label("Credit limit").fill("500")
    await limits.get_by_label("Monthly cap").fill("")
    await limits.get_by_label("Alert below").fill("")
    await limits.get_by_role("button", name="Set limits of zeta").click()
    await expect(
        accounts.get_by_role("row", name=re.compile(r"^zeta 0 500 0 500 none none"))
    ).to_be_visible()


async def test_an_operator_retries_a_failed_webhook(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    status, body = await console.system.send(
        {
            "from": "ACME",
            "to": ["+33612345678"],
            "text": "x",
            "send_at": "2027-06-01T09:00:00Z",
            "callback_url": DEAD_HOOK,
        }
    )
    assert status == 202, body

    async def tried() -> bool:  # the daemon's first attempt failed: it waits to retry
        return any(w.attempts >= 1 for w in await _webhooks(tmp_path, "pending"))

    await eventually(tried, what="a failed webhook attempt")
    [hook] = await _webhooks(tmp_path, "pending")
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        await store.webhook_failed(hook.id, error="HTTP 410")  # given up, as after its last try
    finally:
        await store.close()
    await _customer_is_refused(
        console, page, "/operator/webhooks", f"/operator/webhooks/{hook.id}/retry"
    )
    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.get_by_role("link", name="Operator", exact=True).click()
    await page.get_by_role("link", name="Webhooks", exact=True).click()
    table = page.get_by_role("table", name="Failed webhooks")
    row = table.get_by_role(
        "row", name=re.compile(rf"^{hook.id} {ACCOUNT} http\S+hooks.sms \d+ HTTP 410")
    )
    await expect(row).to_be_visible()
    without = await page.request.post(
        f"{console.root}/operator/webhooks/{hook.id}/retry", max_redirects=0
    )
    assert without.status == 403  # no CSRF token
    assert [w.id for w in await _webhooks(tmp_path, "failed")] == [hook.id]
    await row.get_by_role("button", name=f"Retry webhook {hook.id}").click()
    await expect(table.get_by_role("cell", name="No failed webhooks.")).to_be_visible()
    assert hook.id in {w.id for w in await _webhooks(tmp_path, "pending")}
