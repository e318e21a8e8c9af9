"""The README's pictures of the console: ``python -m tests.console.screenshots docs/console``.

Runs the same system as the browser tests (daemon, SQLite, SMSC simulator),
sends a few messages and saves the dashboard, the send page with its counter
the message history and the credit page with an order as PNG files, plus the
send page on a phone's width.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, _prepare, log_in
from tests.e2e.system import running_daemon, write_config

TEXTS = (
    ("+33612345678", "Your table for 4 is booked for 20:00 tonight. Reply STOP to opt out."),
    ("+33612345679", "Rendez-vous confirmé demain à 9h30 — à bientôt !"),
    ("+4915112345678", "Code 482913: valid 10 minutes."),
)


async def _send(page: Page, root: str, number: str, text: str) -> None:
    await page.goto(root + "/send")
    await page.get_by_label("Sender").select_option("ACME")
    await page.get_by_label("Recipients").fill(number)
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#accepted")).to_contain_text("1 accepted")


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
        await sim.start()
        extra = '[console]\npath = "/console"\n'
        written = write_config(Path(tmp) / "gateway.toml", smsc_port=sim.port, extra=extra)
        config = load_config(written)
        await _prepare(config.store.url, config.base_dir)
        try:
            async with running_daemon(config) as daemon, async_playwright() as p:
                root = f"http://127.0.0.1:{daemon.http_port}/console"
                browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 760})
                await log_in(page, root)
                for number, text in TEXTS:
                    await _send(page, root, number, text)
                await page.goto(root + "/messages")
                await expect(page.get_by_role("cell", name="delivered")).to_have_count(3)
                await page.screenshot(path=out / "messages.png", full_page=True)
                await page.goto(root + "/")
                await page.screenshot(path=out / "dashboard.png", full_page=True)
                await page.goto(root + "/credit")
                await page.get_by_label("Credits").fill("500")
                await page.get_by_role("button", name="Order").click()
                await expect(page.get_by_role("cell", name="pending")).to_be_visible()
                await page.screenshot(path=out / "credit.png", full_page=True)
                await page.goto(root + "/send")
                await page.get_by_label("Sender").select_option("ACME")
                await page.get_by_label("Recipients").fill("+33612345678\n+33612345679")
                await page.get_by_label("Message").fill(
                    "Spring sale: 20% off everything until Sunday, in store and online at "
                    "example.com. Show this SMS at the till, in participating stores only. "
                    "Prices in €. Reply STOP to opt out."
                )
                await expect(page.get_by_role("status", name="Counter")).to_contain_text("2 SMS")
                await page.screenshot(path=out / "send.png", full_page=True)
                await page.set_viewport_size({"width": 390, "height": 844})
                await page.screenshot(path=out / "send-phone.png", full_page=True)
                await browser.close()
        finally:
            await sim.close()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
