"""ESME -> smsgw's SMPP server -> the send pipeline -> the SMSC simulator, through the
daemon; a credential an operator token made over HTTP binds."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import smpplib.client
import smpplib.exceptions

from drivers.smpp.protocol.pdu import CommandId, encode_bare
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import Config, load_config
from gateway.ingress.tokens import TOKEN_TTL
from gateway.runtime.daemon import Daemon
from gateway.store import open_store
from tests.e2e.system import ACCOUNT, prepare_store, running_daemon, write_config
from tests.e2e.test_daemon import smsgw
from tests.waiting import eventually

SERVER = """
[smpp_server]
listen = "127.0.0.1:0"
window = 8
"""


async def esme_password(db_url: str, base: Path) -> str:
    store = await open_store(db_url, base=base)
    try:
        _, password = await store.create_esme_credential(ACCOUNT, "acme1", max_binds=2)
        return password
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def esme_daemon(path: Path) -> AsyncIterator[tuple[Config, Daemon, int, str]]:
    """The daemon of the config at ``path`` running, its store with the account and an
    ESME credential ``acme1``: (config, daemon, its SMPP port, the credential's password)."""
    config = load_config(path)
    await prepare_store(config.store.url, config.base_dir)
    password = await esme_password(config.store.url, config.base_dir)
    async with running_daemon(config) as daemon:
        [(_, port, _tls)] = daemon.smpp_addresses
        yield config, daemon, port, password


def bind_and_submit(port: int, password: str) -> tuple[smpplib.client.Client, Any]:
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    c.bind_transceiver(system_id="acme1", password=password)
    c.send_message(
        source_addr_ton=5,
        source_addr="ACME",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        registered_delivery=1,
        short_message=b"hello from an ESME",
    )
    return c, c.read_pdu()


def until_unbind(c: smpplib.client.Client) -> str:
    """Read until the server's unbind, answer it; the command seen."""
    while True:
        pdu = c.read_pdu()
        if pdu.command == "unbind":
            c._socket.sendall(encode_bare(CommandId.UNBIND_RESP, pdu.sequence))  # noqa: SLF001
            c._socket.close()  # noqa: SLF001
            return str(pdu.command)


async def test_esme_submit_reaches_the_smsc(tmp_path: Path) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    try:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        async with esme_daemon(path) as (config, daemon, port, password):
            assert not daemon.smpp_addresses[0][2]  # no TLS
            esme, resp = await asyncio.to_thread(bind_and_submit, port, password)
            assert int(resp.status) == 0
            message_id = resp.message_id.decode()

            def reached() -> bool:
                return any(
                    r.get("event") == "submit_sm" and r.get("to") == "33612345678"
                    for r in sim.records
                )

            await eventually(reached, what="the ESME's message at the SMSC")
            sample = daemon.registry.get_sample_value
            assert (
                sample("smsgw_messages_accepted_total", {"account": ACCOUNT, "channel": "smpp"})
                == 1
            )
            assert (
                sample("smsgw_esme_binds_total", {"system_id": "acme1", "bind_type": "transceiver"})
                == 1
            )
            assert (
                sample("smsgw_esme_submits_total", {"system_id": "acme1", "status": "ESME_ROK"})
                == 1
            )
            unbound = asyncio.create_task(asyncio.to_thread(until_unbind, esme))
        assert await unbound == "unbind"  # the daemon's stop unbound the ESME
        store = await open_store(config.store.url, base=config.base_dir)
        try:
            view = await store.get_message(message_id)
        finally:
            await store.close()
        assert (view.message.text, view.message.sender) == ("hello from an ESME", "ACME")
    finally:
        await sim.close()


def bind_once(port: int, system_id: str, password: str) -> int:
    """A bind_transceiver's command_status (0: bound, then unbound)."""
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    try:
        c.bind_transceiver(system_id=system_id, password=password)
        c.unbind()
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return 0


async def test_an_operator_token_from_the_cli_makes_a_credential_that_binds(
    tmp_path: Path,
) -> None:
    sim = SmscSimulator(config=SimConfig(), port=0)
    await sim.start()
    try:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        config = load_config(path)
        await prepare_store(config.store.url, config.base_dir)
        async with running_daemon(config) as daemon, aiohttp.ClientSession() as http:
            code, out = await smsgw(path, "token", "create", "--operator", "ops", "--json")
            assert code == 0
            made = json.loads(out)
            auth = {"Authorization": f"Bearer {made['token']}"}
            esme = f"http://127.0.0.1:{daemon.http_port}/v1/accounts/{ACCOUNT}/esme"
            async with http.post(esme, json={"system_id": "acme1"}, headers=auth) as r:
                assert r.status == 201, await r.text()
                password = (await r.json())["password"]
            [(_, port, _)] = daemon.smpp_addresses
            assert await asyncio.to_thread(bind_once, port, "acme1", password) == 0
            code, _ = await smsgw(path, "token", "revoke", "--operator", str(made["id"]))
            assert code == 0

            async def refused() -> bool:
                async with http.get(esme, headers=auth) as r:
                    if r.status == 200:
                        return False
                    assert r.status == 401
                    return True

            # the daemon remembers a token's owner for TOKEN_TTL (gateway.ingress.tokens)
            await eventually(refused, timeout=TOKEN_TTL + 10, what="the revoked token refused")
    finally:
        await sim.close()
