"""The web console as a person uses it, in Debian's chromium (tests/console/conftest.py).

Elements are found by role and accessible name, as README (Web console)
promises them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from gateway.model.logins import LoginRole
from gateway.store import open_store
from gateway.store.logins import hash_password
from tests.console.conftest import (
    BOOK,
    BOOK_NUMBER,
    EMAIL,
    MAX_FAILURES,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    PASSWORD,
    Console,
    log_in,
)
from tests.e2e.system import ACCOUNT
from tests.waiting import eventually

NUMBER = "+33612345678"


async def test_log_in_and_out(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for name in ("Send", "Messages", "Replies", "Senders", "Phonebooks", "Credit", "Tokens"):
        await expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await page.goto(console.root + "/messages")  # the session ended: back to the log-in form
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()


async def test_first_log_in_asks_for_a_new_password(
    console: Console, page: Page, tmp_path: Path
) -> None:
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        await store.create_login(
            ACCOUNT, "new@acme.example", LoginRole.CUSTOMER, hash_password("one-time-pass", n=2**10)
        )
    finally:
        await store.close()
    await log_in(page, console.root, "new@acme.example", "one-time-pass")
    await expect(page.get_by_role("link", name="Send", exact=True)).to_have_count(0)
    await page.get_by_label("New password", exact=True).fill("my own password")
    await page.get_by_label("Repeat new password").fill("my own password!")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("alert")).to_contain_text("differ")
    await page.get_by_label("New password", exact=True).fill("my own password")
    await page.get_by_label("Repeat new password").fill("my own password")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, "new@acme.example", "my own password")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def test_counter_follows_the_text(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Send", exact=True).click()
    counter = page.get_by_role("status", name="Counter")
    message = page.get_by_label("Message")
    await message.fill("a" * 160)
    await expect(counter).to_have_text("160 characters, 1 SMS, GSM 7-bit")
    await message.fill("a" * 161)
    await expect(counter).to_have_text("161 characters, 2 SMS, GSM 7-bit")
    await expect(page.locator("#remaining")).to_have_text("145 septets left in the last SMS")
    await message.fill("a" * 159 + "€")  # an extension character counts two septets
    await expect(counter).to_have_text("160 characters, 2 SMS, GSM 7-bit")
    await message.fill("Hi 😀")
    await expect(counter).to_have_text("4 characters, 1 SMS, UCS-2")
    await page.get_by_label("Recipients").fill(f"{NUMBER}\n+33612345679")
    await expect(page.get_by_label("Cost")).to_have_text("2 recipients: 2 credits")


async def test_send_to_a_number_reaches_the_smsc_and_shows_delivered(
    console: Console, page: Page
) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Send", exact=True).click()
    await page.get_by_label("Sender").select_option("ACME")
    await page.get_by_label("Recipients").fill(f"{NUMBER}, 0612")
    await page.get_by_label("Message").fill("Hello from the console")
    await page.get_by_label("Class").select_option("flash")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#accepted")).to_contain_text("1 accepted, 1 refused")
    await expect(page.get_by_role("table", name="Refused")).to_contain_text("national format")
    await expect(page.get_by_role("cell", name="delivered")).to_be_visible()  # live, by htmx
    submits = console.system.submits()
    assert [(s["to"].lstrip("+"), s["dcs"]) for s in submits] == [
        (NUMBER.lstrip("+"), 0x10)  # GSM 7-bit, class 0 (flash)
    ]
    await page.get_by_role("link", name="Messages", exact=True).click()
    await expect(page.get_by_role("cell", name="delivered")).to_be_visible()
    await page.get_by_role("link", name="Hello from the console").click()
    await expect(page.get_by_role("heading", name=re.compile("^Message "))).to_be_visible()
    await expect(page.locator("#live")).to_contain_text("delivered")


async def test_send_to_a_csv_file_and_a_phonebook(
    console: Console, page: Page, tmp_path: Path
) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("number\n+33612345611\nnot a number\n+33612345612\n", encoding="utf-8")
    await log_in(page, console.root)
    await page.get_by_role("link", name="Send", exact=True).click()
    await page.get_by_label("Sender").select_option("ACME")
    await page.get_by_label("Recipient file").set_input_files(listing)
    await page.get_by_label("Phonebook").select_option(BOOK)
    await page.get_by_label("Message").fill("To the list and the book")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#accepted")).to_contain_text("3 accepted, 1 refused")
    await expect(page.get_by_role("table", name="Refused")).to_contain_text("Recipient file line 3")

    def destinations() -> set[str]:
        return {s["to"].lstrip("+") for s in console.system.submits()}

    wanted = {"33612345611", "33612345612", BOOK_NUMBER.lstrip("+")}
    await eventually(lambda: destinations() == wanted, what="the three submits")
    await expect(page.get_by_role("cell", name="delivered")).to_have_count(3)


async def test_another_account_sees_nothing_of_the_first(console: Console, page: Page) -> None:
    status, body = await console.system.send(
        {"from": "ACME", "to": [NUMBER], "text": "private to acme"}
    )
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    await log_in(page, console.root, OTHER_EMAIL, OTHER_PASSWORD)
    await page.get_by_role("link", name="Messages", exact=True).click()
    await expect(page.get_by_role("cell", name="No messages.")).to_be_visible()
    response = await page.goto(f"{console.root}/messages/{message_id}")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_text("private to acme")).to_have_count(0)
    state = await page.request.get(f"{console.root}/messages/{message_id}/state")
    assert state.status == 404
    csrf = await page.locator("input[name=csrf]").first.input_value()
    cancel = await page.request.post(
        f"{console.root}/messages/{message_id}/cancel", form={"csrf": csrf}, max_redirects=0
    )
    assert cancel.status == 404
    response = await page.goto(f"{console.root}/phonebooks/{BOOK}")
    assert response is not None
    assert response.status == 404
    await page.get_by_role("link", name="Phonebooks", exact=True).click()
    await expect(page.get_by_role("link", name=BOOK)).to_have_count(0)
    await page.goto(console.root + "/")
    await expect(page.get_by_text("private to acme")).to_have_count(0)
    assert (await console.system.message(message_id))["state"] != "cancelled"


async def test_post_without_the_csrf_token_is_refused(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    # the browser's own session cookie, a form without its token
    response = await page.request.post(
        f"{console.root}/tokens", form={"nothing": "here"}, max_redirects=0
    )
    assert response.status == 403
    response = await page.request.post(
        f"{console.root}/tokens", form={"csrf": "guessed"}, max_redirects=0
    )
    assert response.status == 403
    await page.goto(console.root + "/tokens")  # the one made by the test setup, no other
    await expect(page.get_by_role("button", name=re.compile("^Revoke token"))).to_have_count(1)
    await page.get_by_role("button", name="Create token").click()  # with its token: done
    await expect(page.get_by_label("New token")).to_contain_text("smsgw_")
    await expect(page.get_by_role("button", name=re.compile("^Revoke token"))).to_have_count(2)


async def test_wrong_passwords_lock_the_login(console: Console, page: Page) -> None:
    await page.goto(console.root + "/")
    for _ in range(MAX_FAILURES):
        await page.get_by_label("Email").fill(EMAIL)
        await page.get_by_label("Password").fill("wrong password")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("locked")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)  # the right one: still locked
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("locked")
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)


async def test_phonebook_is_made_imported_edited_and_sent_to(
    console: Console, page: Page, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "name,number\nDora,+33612345621\nEd,0612\nFay,+33612345622\n", encoding="utf-8"
    )
    await log_in(page, console.root)
    await page.get_by_role("link", name="Phonebooks", exact=True).click()
    await page.get_by_label("Phonebook name").fill("friends")
    await page.get_by_role("button", name="Create phonebook").click()
    await expect(page.get_by_role("heading", name="Phonebook friends")).to_be_visible()
    await page.get_by_label("Contacts file").set_input_files(contacts)
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_have_text("2 added, 0 updated, 1 rows refused")
    refused = page.get_by_role("table", name="Refused rows")
    await expect(refused.get_by_role("row")).to_have_count(2)  # the header and line 3
    await expect(refused.get_by_role("cell", name="3", exact=True)).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Gus")
    await page.get_by_label("Number", exact=True).fill("+33 6 12 34 56 23")
    await page.get_by_role("button", name="Add contact").click()
    await expect(page.get_by_role("cell", name="+33612345623", exact=True)).to_be_visible()
    await page.get_by_label("Name of +33612345621").fill("Dora B.")
    await page.get_by_role("button", name="Rename +33612345621").click()
    await expect(page.get_by_label("Name of +33612345621")).to_have_value("Dora B.")
    await page.get_by_role("button", name="Remove +33612345622").click()
    await expect(page.get_by_role("cell", name="+33612345622", exact=True)).to_have_count(0)
    await page.get_by_role("link", name="Send to +33612345623").click()
    await expect(page.get_by_label("Recipients")).to_have_value("+33612345623")
    await page.get_by_label("Sender").select_option("ACME")
    await page.get_by_label("Message").fill("Hi Gus")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#accepted")).to_contain_text("1 accepted")
    await expect(page.get_by_role("cell", name="delivered")).to_be_visible()


async def test_a_message_for_later_is_cancelled_and_refunded(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Send", exact=True).click()
    await page.get_by_label("Sender").select_option("ACME")
    await page.get_by_label("Recipients").fill(NUMBER)
    await page.get_by_label("Message").fill("Next year")
    await page.get_by_label("Send at").fill("2027-06-01T09:00")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#accepted")).to_contain_text("1 accepted")
    assert await console.system.balance() == 999
    await page.get_by_role("link", name=re.compile("^[0-9A-Z]{10,}$")).click()
    await expect(page.locator("#live")).to_contain_text("queued")
    await page.get_by_role("button", name="Cancel message").click()
    await expect(page.locator("#live")).to_contain_text("cancelled")
    await expect(page.get_by_role("button", name="Cancel message")).to_have_count(0)
    assert await console.system.balance() == 1000
    assert console.system.submits() == []


async def test_a_sender_is_requested_and_waits_for_approval(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Senders", exact=True).click()
    await page.get_by_label("Kind").select_option("alpha")
    await page.get_by_label("Sender name or number").fill("ACMESHOP")
    await page.get_by_role("button", name="Request sender").click()
    row = page.get_by_role("row", name=re.compile("^ACMESHOP"))
    await expect(row).to_contain_text("pending")
    await page.get_by_role("link", name="Send", exact=True).click()
    options = page.get_by_label("Sender").get_by_role("option")
    await expect(options).to_have_text(["+33700000001", "ACME"])  # approved ones only


async def test_an_operator_approves_a_sender_a_customer_requested(
    console: Console, page: Page, tmp_path: Path
) -> None:
    store = await open_store("sqlite:gw.db", base=tmp_path)
    try:
        await store.create_login(
            ACCOUNT, "ops@op.example", LoginRole.OPERATOR, hash_password("x", n=2**10)
        )
        await store.set_login_password("ops@op.example", hash_password("operator pass", n=2**10))
    finally:
        await store.close()
    await log_in(page, console.root)
    await expect(page.get_by_role("link", name="Operator")).to_have_count(0)
    response = await page.goto(console.root + "/operator/senders")
    assert response is not None
    assert response.status == 404  # a customer's login
    await page.goto(console.root + "/senders")
    await page.get_by_label("Sender name or number").fill("NEWSHOP")
    await page.get_by_role("button", name="Request sender").click()
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, console.root, "ops@op.example", "operator pass")
    await page.get_by_role("link", name="Operator", exact=True).click()
    await expect(page.get_by_role("cell", name="other", exact=True)).to_be_visible()
    await page.get_by_role("link", name="Sender requests").click()
    await page.get_by_role("button", name="Approve NEWSHOP of acme").click()
    row = page.get_by_role("row", name=re.compile("^acme NEWSHOP"))
    await expect(row).to_contain_text("approved")
    await page.get_by_role("link", name="Send", exact=True).click()
    await expect(page.get_by_label("Sender").get_by_role("option", name="NEWSHOP")).to_have_count(1)


async def test_history_pages_and_filters_by_state(console: Console, page: Page) -> None:
    later = "2027-06-01T09:00:00Z"
    numbers = [f"+336123450{i:02d}" for i in range(60)]
    status, body = await console.system.send(
        {"from": "ACME", "to": numbers, "text": "scheduled", "send_at": later}
    )
    assert status == 202, body
    await log_in(page, console.root)
    await page.get_by_role("link", name="Messages", exact=True).click()
    rows = page.get_by_role("row", name=re.compile("scheduled"))
    await expect(rows).to_have_count(50)
    await page.get_by_role("link", name="Older").click()
    await expect(rows).to_have_count(10)
    await expect(page.get_by_role("link", name="Older")).to_have_count(0)
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await page.get_by_role("link", name="Newer").click()
    await expect(rows).to_have_count(50)
    await expect(page.get_by_role("link", name="Newer")).to_have_count(0)
    response = await page.goto(console.root + "/messages?cursor=not-a-cursor")
    assert response is not None
    assert response.status == 400
    await expect(page.get_by_role("alert")).to_contain_text("cursor")
    await page.goto(console.root + "/messages")
    await page.get_by_label("State").select_option("delivered")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("cell", name="No messages.")).to_be_visible()
    await page.get_by_label("State").select_option("queued")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(50)


async def test_counter_counts_a_long_text(console: Console, page: Page) -> None:
    await log_in(page, console.root)
    await page.get_by_role("link", name="Send", exact=True).click()
    await page.get_by_label("Message").fill("é" * 5000)  # far past what a URL holds
    await expect(page.get_by_role("status", name="Counter")).to_have_text(
        "5000 characters, 33 SMS, GSM 7-bit"
    )


async def test_everything_but_the_live_parts_works_without_javascript(
    console: Console, browser: Browser
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await log_in(page, console.root)
        await page.get_by_role("link", name="Send", exact=True).click()
        await page.get_by_label("Sender").select_option("ACME")
        await page.get_by_label("Recipients").fill(NUMBER)
        await page.get_by_label("Message").fill("a" * 161)
        await page.get_by_role("button", name="Count").click()  # the form comes back counted
        await expect(page.get_by_role("status", name="Counter")).to_have_text(
            "161 characters, 2 SMS, GSM 7-bit"
        )
        await expect(page.get_by_label("Cost")).to_have_text("1 recipient: 2 credits")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator("#accepted")).to_contain_text("1 accepted")
        await page.get_by_role("link", name="Messages", exact=True).click()
        await expect(page.get_by_role("row", name=re.compile("aaaa"))).to_have_count(1)
    finally:
        await context.close()


async def test_credit_shows_the_journal_and_exports_it_as_csv(
    console: Console, page: Page, tmp_path: Path
) -> None:
    status, body = await console.system.send({"from": "ACME", "to": [NUMBER], "text": "x"})
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    await log_in(page, console.root)
    await page.get_by_role("link", name="Credit", exact=True).click()
    await expect(page.get_by_role("row", name=re.compile("topup"))).to_contain_text("1000")
    await expect(page.get_by_role("link", name=message_id)).to_be_visible()
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Download the journal (CSV)").click()
    download = await waiting.value
    assert download.suggested_filename == f"journal-{ACCOUNT}.csv"
    saved = tmp_path / "journal.csv"
    await download.save_as(saved)
    lines = (await asyncio.to_thread(saved.read_text, encoding="utf-8")).splitlines()
    assert lines[0] == "date,kind,amount,balance_after,reference,message,destination,segments"
    assert [line.split(",")[1:4] for line in lines[1:]] == [
        ["topup", "1000", "1000"],
        ["debit", "-1", "999"],
    ]


async def test_the_log_in_form_works_from_the_keyboard(console: Console, page: Page) -> None:
    await page.goto(console.root + "/")
    await page.keyboard.press("Tab")  # the skip link comes first
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.get_by_label("Email").focus()
    await page.keyboard.type(EMAIL)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
