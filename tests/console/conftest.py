"""The web console in a real browser: Debian's chromium driven by Playwright.

``console`` is a complete system (tests/e2e/system.py: the daemon with its
HTTP server and ``[console]``, SQLite, an SMSC simulator with receipts) with
two accounts and a login on each; ``page`` is a fresh browser page (its own
cookies). Chromium is Debian's (/usr/bin/chromium, installed by
scripts/test): the tests are skipped with the reason when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from gateway.model.logins import LoginRole
from gateway.model.records import PhonebookContact
from gateway.store import open_store
from gateway.store.logins import hash_password
from tests.e2e.system import ACCOUNT, System, prepare_store, running_daemon, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL = "ann@acme.example"
PASSWORD = "ann's long password"
OTHER = "other"
OTHER_EMAIL = "bob@other.example"
OTHER_PASSWORD = "bob's long password"
MAX_FAILURES = 3
BOOK = "clients"
# what a step may wait for (a receipt, a poll every 2 s) on a busy 2-core machine
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)
BOOK_NUMBER = "+33612345601"


@dataclass
class Console:
    system: System
    root: str  # http://127.0.0.1:PORT/console


async def _prepare(url: str, base: Path) -> str:
    token = await prepare_store(url, base)
    store = await open_store(url, base=base)
    try:
        cheap = 2**10  # the tests' KDF cost; the scheme is the production one
        await store.create_login(ACCOUNT, EMAIL, LoginRole.CUSTOMER, hash_password("x", n=cheap))
        await store.set_login_password(EMAIL, hash_password(PASSWORD, n=cheap))
        await store.create_account(OTHER)
        await store.topup(OTHER, 100, reference="order-other")
        await store.create_login(
            OTHER, OTHER_EMAIL, LoginRole.CUSTOMER, hash_password("x", n=cheap)
        )
        await store.set_login_password(OTHER_EMAIL, hash_password(OTHER_PASSWORD, n=cheap))
        await store.create_phonebook(ACCOUNT, BOOK)
        await store.import_contacts(
            ACCOUNT, BOOK, [PhonebookContact(name="Carla", number=BOOK_NUMBER)]
        )
    finally:
        await store.close()
    return token


@asynccontextmanager
async def running_console(tmp_path: Path, *, extra: str = "") -> AsyncIterator[Console]:
    """The system with ``[console]`` (and ``extra`` configuration)."""
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    extra = (
        f'[console]\npath = "/console"\nmax_failures = {MAX_FAILURES}\nlock_seconds = 600\n' + extra
    )
    config = load_config(write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=extra))
    token = await _prepare(config.store.url, config.base_dir)
    try:
        async with running_daemon(config) as daemon, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            system = System(
                daemon=daemon, sim=sim, http=http, base=base, token=token, db=tmp_path / "gw.db"
            )
            yield Console(system=system, root=f"{base}/console")
    finally:
        await sim.close()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running_console(tmp_path) as c:
        yield c


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed: apt install chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    p = await context.new_page()
    try:
        yield p
    finally:
        await context.close()


async def log_in(page: Page, root: str, email: str = EMAIL, password: str = PASSWORD) -> None:
    await page.goto(root + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
