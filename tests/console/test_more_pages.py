"""The console's credit orders, sender reasons, stoplist, SMPP credentials and
replies, in Debian's chromium (tests/console/conftest.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import smpplib.client
import smpplib.exceptions
from playwright.async_api import Page, expect

from gateway.model.logins import LoginRole
from gateway.store import open_store
from gateway.store.logins import hash_password
from tests.console.conftest import (
    OTHER_EMAIL,
    OTHER_PASSWORD,
    Console,
    log_in,
    running_console,
)
from tests.e2e.system import ACCOUNT
from tests.waiting import eventually

OPERATOR = "ops@op.example"
OPERATOR_PASSWORD = "operator pass"
REPLIER, STOPPER = "+33611111111", "+33622222222"


async def _add_operator(tmp_path: Path) -> None:
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        await store.create_login(ACCOUNT, OPERATOR, LoginRole.OPERATOR, hash_password("x", n=2**10))
        await store.set_login_password(OPERATOR, hash_password(OPERATOR_PASSWORD, n=2**10))
    finally:
        await store.close()


async def _status(page: Page, url: str) -> int:
    response = await page.goto(url)
    assert response is not None
    return response.status


async def test_an_order_paid_twice_credits_once(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    before = await console.system.balance()
    await log_in(page, console.root)
    assert await _status(page, console.root + "/operator/orders") == 404  # a customer
    await page.get_by_role("link", name="Credit", exact=True).click()
    await page.get_by_label("Credits").fill("99")  # below [ledger] min_topup (100)
    await page.get_by_role("button", name="Order").click()
    await expect(page.get_by_role("alert")).to_contain_text("minimum pack of 100")
    await page.get_by_label("Credits").fill("500")
    await page.get_by_role("button", name="Order").click()
    orders = page.get_by_role("table", name="Orders")
    await expect(orders.get_by_role("row", name=re.compile(r"500 pending"))).to_have_count(1)
    await page.get_by_role("button", name="Log out").click()

    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.get_by_role("link", name="Operator", exact=True).click()
    await page.get_by_role("link", name="Orders", exact=True).click()
    pending = page.get_by_role("table", name="Pending orders")
    row = pending.get_by_role("row", name=re.compile(rf"{ACCOUNT} 500"))
    await expect(row).to_have_count(1)
    order_id = (await row.get_by_role("cell").first.inner_text()).strip()
    button = row.get_by_role("button", name=f"Mark order {order_id} paid")
    await expect(button).to_have_text("Mark paid")
    csrf = await row.locator("input[name=csrf]").first.input_value()
    await row.get_by_label(f"Payment reference of order {order_id}").fill("BANK-42")
    await button.click()
    await expect(pending.get_by_role("cell", name="No pending orders.")).to_be_visible()
    assert await console.system.balance() == before + 500
    # the same form posted again (a replayed POST), and twice at once: no more credit
    url = f"{console.root}/operator/orders/{order_id}/paid"
    answers = await asyncio.gather(
        *(page.request.post(url, form={"csrf": csrf}, max_redirects=0) for _ in range(3))
    )
    assert [a.status for a in answers] == [303, 303, 303]
    assert await console.system.balance() == before + 500
    cancel = await page.request.post(
        f"{console.root}/operator/orders/{order_id}/cancel", form={"csrf": csrf}, max_redirects=0
    )
    assert cancel.status == 409  # paid: it stays paid
    await page.get_by_role("button", name="Log out").click()

    await log_in(page, console.root)
    await page.get_by_role("link", name="Credit", exact=True).click()
    await expect(orders.get_by_role("row", name=re.compile(r"500 paid"))).to_have_count(1)
    journal = page.get_by_role("row", name=re.compile(rf"topup 500 {before + 500}"))
    await expect(journal).to_have_count(1)


async def test_an_operator_cancels_an_order_and_customers_cannot(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    before = await console.system.balance()
    await log_in(page, console.root)
    await page.goto(console.root + "/credit")
    await page.get_by_label("Credits").fill("200")
    await page.get_by_role("button", name="Order").click()
    row = page.get_by_role("table", name="Orders").get_by_role("row", name=re.compile("200"))
    order_id = (await row.get_by_role("cell").first.inner_text()).strip()
    csrf = await page.locator("input[name=csrf]").first.input_value()
    for action in ("paid", "cancel"):  # a customer's login: as if there were no such page
        answer = await page.request.post(
            f"{console.root}/operator/orders/{order_id}/{action}",
            form={"csrf": csrf},
            max_redirects=0,
        )
        assert answer.status == 404
    without = await page.request.post(
        f"{console.root}/credit/orders", form={"credits": "500"}, max_redirects=0
    )
    assert without.status == 403  # no CSRF token
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.goto(console.root + "/operator/orders")
    await page.get_by_role("button", name=f"Cancel order {order_id}").click()
    await expect(page.get_by_role("cell", name="No pending orders.")).to_be_visible()
    assert await console.system.balance() == before
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)
    await page.goto(console.root + "/credit")
    await expect(page.get_by_role("cell", name="No orders.")).to_be_visible()


async def test_a_customer_cancels_its_own_pending_order_and_no_one_elses(
    console: Console, page: Page
) -> None:
    await log_in(page, console.root)
    await page.goto(console.root + "/credit")
    await page.get_by_label("Credits").fill("300")
    await page.get_by_role("button", name="Order").click()
    orders = page.get_by_role("table", name="Orders")
    row = orders.get_by_role("row", name=re.compile("300 pending"))
    order_id = (await row.get_by_role("cell").first.inner_text()).strip()
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)
    await page.goto(console.root + "/credit")
    csrf = await page.locator("input[name=csrf]").first.input_value()
    theirs = await page.request.post(
        f"{console.root}/credit/orders/{order_id}/cancel", form={"csrf": csrf}, max_redirects=0
    )
    assert theirs.status == 404  # another account's order: as if there were none
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root)
    await page.goto(console.root + "/credit")
    await page.get_by_role("button", name=f"Cancel order {order_id}").click()
    await expect(orders.get_by_role("row", name=re.compile("300 cancelled"))).to_have_count(1)
    await expect(page.get_by_role("button", name=f"Cancel order {order_id}")).to_have_count(0)
    system = console.system
    async with system.http.get(f"{system.base}/v1/orders", headers=system.auth()) as r:
        listed = {o["id"]: o["status"] for o in (await r.json())["orders"]}
    assert listed[int(order_id)] == "cancelled"


async def test_a_sender_request_keeps_its_reason_and_the_refusal_its_own(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    await log_in(page, console.root)
    await page.get_by_role("link", name="Senders", exact=True).click()
    await page.get_by_label("Kind").select_option("alpha")
    await page.get_by_label("Sender name or number").fill("ACMEPROMO")
    await page.get_by_label("Reason", exact=True).fill("our spring sale")
    await page.get_by_role("button", name="Request sender").click()
    row = page.get_by_role("row", name=re.compile("^ACMEPROMO"))
    await expect(row).to_contain_text("our spring sale")
    await expect(row).to_contain_text("pending")
    await page.get_by_label("Sender name or number").fill("LONGREASON")
    await page.get_by_label("Reason", exact=True).evaluate("e => e.removeAttribute('maxlength')")
    await page.get_by_label("Reason", exact=True).fill("x" * 501)
    await page.get_by_role("button", name="Request sender").click()
    await expect(page.get_by_role("alert")).to_contain_text("longer than 500")
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.goto(console.root + "/operator/senders")
    row = page.get_by_role("row", name=re.compile(f"^{ACCOUNT} ACMEPROMO"))
    await expect(row).to_contain_text("our spring sale")
    await page.get_by_label(f"Reason for ACMEPROMO of {ACCOUNT}").fill("not your brand")
    await page.get_by_role("button", name=f"Refuse ACMEPROMO of {ACCOUNT}").click()
    await expect(row).to_contain_text("refused: not your brand")
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root)
    await page.goto(console.root + "/senders")
    row = page.get_by_role("row", name=re.compile("^ACMEPROMO"))
    await expect(row).to_contain_text("refused")
    await expect(row).to_contain_text("our spring sale")
    await expect(row).to_contain_text("not your brand")


async def test_history_walks_three_pages_there_and_back(console: Console, page: Page) -> None:
    numbers = [f"+33612346{i:03d}" for i in range(110)]
    status, body = await console.system.send(
        {"from": "ACME", "to": numbers, "text": "later", "send_at": "2027-06-01T09:00:00Z"}
    )
    assert status == 202, body
    await log_in(page, console.root)
    await page.goto(console.root + "/messages?state=queued")
    rows = page.get_by_role("row", name=re.compile("later"))
    seen: list[set[str]] = []
    for count in (50, 50, 10):
        await expect(rows).to_have_count(count)
        seen.append({await r.get_by_role("cell").nth(1).inner_text() for r in await rows.all()})
        if count == 10:
            await expect(page.get_by_role("link", name="Older")).to_have_count(0)
        else:
            await page.get_by_role("link", name="Older").click()
    assert set().union(*seen) == set(numbers)  # every message once, on one page
    await expect(page.get_by_text("Page 3")).to_be_visible()
    for number, count in ((2, 50), (1, 50)):
        await page.get_by_role("link", name="Newer").click()
        await expect(page.get_by_text(f"Page {number}")).to_be_visible()
        await expect(rows).to_have_count(count)
        assert page.url.count("state=queued") == 1  # the filter is kept
    await expect(page.get_by_role("link", name="Newer")).to_have_count(0)


async def test_replies_and_a_stop_reply_show_and_an_operator_takes_the_number_off(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    sim = console.system.sim
    await eventually(lambda: bool(sim.bound()), what="link bound at the SMSC")
    sim.inject_mo(source=REPLIER, destination="+33700000001", text="Yes, Thursday is fine")
    sim.inject_mo(source=STOPPER, destination="+33700000001", text="STOP")
    await log_in(page, console.root)
    await page.get_by_role("link", name="Replies", exact=True).click()
    replies = page.get_by_role("row", name=re.compile(r"^\+336"))

    async def both() -> bool:
        await page.reload()
        return await replies.count() == 2

    await eventually(both, what="both replies on /replies")
    await expect(page.get_by_role("row", name=re.compile(rf"^\{REPLIER} "))).to_contain_text(
        "Yes, Thursday is fine"
    )
    await page.get_by_role("link", name="Stoplist", exact=True).click()
    stops = page.get_by_role("table", name="Stoplist")
    await expect(
        stops.get_by_role("row", name=re.compile(rf"^\{STOPPER} replied stop"))
    ).to_be_visible()
    await expect(stops.get_by_role("cell", name=REPLIER)).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)
    assert await _status(page, console.root + "/operator/stoplist") == 404  # a customer
    csrf = await page.locator("input[name=csrf]").first.input_value()
    answer = await page.request.post(
        f"{console.root}/operator/stoplist/remove",
        form={"csrf": csrf, "account": ACCOUNT, "number": STOPPER},
        max_redirects=0,
    )
    assert answer.status == 404
    await page.get_by_role("button", name="Log out").click()

    await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)  # another account
    await page.goto(console.root + "/stoplist")
    await expect(page.get_by_role("cell", name="No stopped numbers.")).to_be_visible()
    await page.goto(console.root + "/replies")
    await expect(page.get_by_role("cell", name="No replies.")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()

    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.goto(console.root + "/operator/stoplist")
    await page.get_by_role("button", name=f"Remove {STOPPER} of {ACCOUNT}").click()
    await expect(page.get_by_role("cell", name="No stopped numbers.")).to_be_visible()
    status, body = await console.system.send({"from": "ACME", "to": [STOPPER], "text": "hi"})
    assert status == 202, body  # sent to again


SMPP_SERVER = '[smpp_server]\nlisten = "127.0.0.1:0"\n'


def _bind(port: int, system_id: str, password: str) -> int:
    """A transceiver bind's command_status (0: bound), then unbind."""
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    try:
        c.bind_transceiver(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return 0


async def test_an_smpp_credential_is_made_its_password_shown_once_and_it_binds(
    page: Page, tmp_path: Path
) -> None:
    async with running_console(tmp_path, extra=SMPP_SERVER) as console:
        [(_, port, _)] = console.system.daemon.smpp_addresses
        await log_in(page, console.root)
        await page.get_by_role("link", name="SMPP", exact=True).click()
        await expect(page.get_by_role("cell", name="No SMPP credentials.")).to_be_visible()
        await page.get_by_label("System id").fill("bad id!")
        await page.get_by_role("button", name="Create SMPP credential").click()
        await expect(page.get_by_role("alert")).to_contain_text("bad system_id")
        await page.get_by_label("System id").fill("acme1")
        await page.get_by_label("Max binds").fill("2")
        await page.get_by_label("Throughput").fill("10")
        await page.get_by_label("Allowed addresses").fill("127.0.0.1, 10.0.0.0/8")
        await page.get_by_role("button", name="Create SMPP credential").click()
        password = (await page.get_by_label("New SMPP password").inner_text()).strip()
        assert len(password) >= 8
        row = page.get_by_role("row", name=re.compile("^acme1 "))
        await expect(row).to_contain_text("10 a second")
        await expect(row).to_contain_text("127.0.0.1/32, 10.0.0.0/8")
        html = await page.content()
        assert "scrypt" not in html
        await page.reload()  # shown once
        await expect(page.get_by_label("New SMPP password")).to_have_count(0)
        assert password not in await page.content()
        assert await asyncio.to_thread(_bind, port, "acme1", password) == 0
        wrong = password[:-1] + ("a" if password[-1] != "a" else "b")
        assert await asyncio.to_thread(_bind, port, "acme1", wrong) != 0
        await page.get_by_role("button", name="Log out").click()
        await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)
        await page.goto(console.root + "/smpp")
        await expect(page.get_by_role("cell", name="No SMPP credentials.")).to_be_visible()


async def test_without_the_smpp_server_there_is_no_smpp_page(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await expect(page.get_by_role("link", name="SMPP", exact=True)).to_have_count(0)
    assert await _status(page, console.root + "/smpp") == 404


async def test_an_operator_sets_prices_and_sees_the_queue(
    console: Console, page: Page, tmp_path: Path
) -> None:
    await _add_operator(tmp_path)
    status, body = await console.system.send(
        {"from": "ACME", "to": ["+33612345678"], "text": "x", "send_at": "2027-06-01T09:00:00Z"}
    )
    assert status == 202, body
    await log_in(page, console.root)
    for path in ("/operator/prices", "/operator/queue"):
        assert await _status(page, console.root + path) == 404  # a customer
    csrf = await page.locator("input[name=csrf]").first.input_value()
    answer = await page.request.post(
        f"{console.root}/operator/prices",
        form={"csrf": csrf, "prefix": "+33", "credits": "0"},
        max_redirects=0,
    )
    assert answer.status == 404
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OPERATOR, OPERATOR_PASSWORD)
    await page.goto(console.root + "/operator/queue")
    queue = page.get_by_role("table", name="Queue")
    await expect(queue.get_by_role("row", name="queued 1")).to_be_visible()
    links = page.get_by_role("table", name="Links")
    await expect(links.get_by_role("row", name=re.compile("^smsc-1 smpp bound"))).to_be_visible()
    await page.get_by_role("link", name="Prices", exact=True).click()
    await page.get_by_label("Price list").select_option("other")
    await page.get_by_label("Prefix").fill("33 6")
    await page.get_by_label("Credits per segment").fill("3")
    await page.get_by_role("button", name="Set price").click()
    prices = page.get_by_role("table", name="Prices")
    await expect(prices.get_by_role("row", name="other +336 3")).to_be_visible()
    await page.get_by_label("Prefix").fill("33x")
    await page.get_by_label("Credits per segment").fill("1")
    await page.get_by_role("button", name="Set price").click()
    await expect(page.get_by_role("alert")).to_contain_text("bad prefix")
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)
    await page.get_by_role("link", name="Send", exact=True).click()
    await page.get_by_label("Recipients").fill("+33612345678")
    await page.get_by_label("Message").fill("hello")
    await expect(page.locator("#cost")).to_contain_text("3 credits")
