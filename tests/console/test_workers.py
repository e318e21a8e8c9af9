"""The console with ``[workers] count = 2``: a session made by one worker process is
known to the other (sessions are in the store), and a send from the console is
counted on channel ``console`` and reaches the SMSC."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from drivers.smpp.simulator.config import SimConfig
from gateway.model.logins import LoginRole
from gateway.store import open_store
from gateway.store.logins import hash_password
from tests.e2e.system import ACCOUNT, SENDER, smpp_link
from tests.e2e.test_process import daemon_process, smsc, states, until
from tests.e2e.test_workers import metric_value, workers_of

EMAIL = "ann@acme.example"
PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200, url
        match = _CSRF.search(await r.text())
    assert match is not None
    return match.group(1)


async def test_a_session_is_known_to_every_worker(tmp_path: Path) -> None:
    extra = '[workers]\ncount = 2\n[console]\npath = "/console"\n'
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port), extra=extra) as (gw, _),
    ):
        assert len(workers_of(gw)) == 2
        store = await open_store(f"sqlite:///{gw.db}")
        try:
            await store.create_login(ACCOUNT, EMAIL, LoginRole.CUSTOMER, hash_password("x"))
            await store.set_login_password(EMAIL, hash_password(PASSWORD))
        finally:
            await store.close()
        root = f"{gw.base}/console"
        jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1, as a browser keeps them
        # a new connection per request: the kernel spreads them over both workers
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as http:
            token = await _csrf(http, root + "/")
            form = {"csrf": token, "email": EMAIL, "password": PASSWORD}
            async with http.post(root + "/login", data=form) as r:
                assert "Dashboard" in await r.text()
            for i in range(8):
                csrf = await _csrf(http, root + "/send")
                body = {
                    "csrf": csrf,
                    "sender": SENDER,
                    "recipients": f"+3361234{i:04d}",
                    "message": "from the console",
                    "action": "send",
                }
                async with http.post(root + "/send", data=body) as r:
                    assert r.status == 200
                    assert "1 accepted" in await r.text()
        await until(
            lambda: states(gw.db).get("delivered", 0) == 8,
            timeout=30,
            what="the console's messages delivered",
            proc=gw,
        )
        async with aiohttp.ClientSession() as http, http.get(f"{gw.base}/metrics") as r:
            text = await r.text()
        sample = f'smsgw_messages_accepted_total{{account="{ACCOUNT}",channel="console"}}'
        assert metric_value(text, sample) == 8


async def test_every_worker_shows_the_daemons_links_to_operators(tmp_path: Path) -> None:
    extra = '[workers]\ncount = 2\n[console]\npath = "/console"\n'
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port), extra=extra) as (gw, _),
    ):
        store = await open_store(f"sqlite:///{gw.db}")
        try:
            await store.create_login(ACCOUNT, EMAIL, LoginRole.OPERATOR, hash_password("x"))
            await store.set_login_password(EMAIL, hash_password(PASSWORD))
        finally:
            await store.close()
        root = f"{gw.base}/console"
        jar = aiohttp.CookieJar(unsafe=True)
        connector = aiohttp.TCPConnector(force_close=True)  # spread over both workers
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as http:
            token = await _csrf(http, root + "/")
            form = {"csrf": token, "email": EMAIL, "password": PASSWORD}
            async with http.post(root + "/login", data=form) as r:
                assert r.status == 200
            for _ in range(6):
                async with http.get(root + "/operator/queue") as r:
                    assert r.status == 200
                    text = await r.text()
                assert re.search(r"<td>smsc-1</td><td>smpp</td><td>bound</td>", text), text
