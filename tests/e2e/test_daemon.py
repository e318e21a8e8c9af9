"""The daemon end to end: HTTP and MQTT in, SMPP out, receipts back, ledger exact."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

import aiomqtt

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from gateway.dispatch.journal import AcceptJournal, journal_base
from gateway.events.webhooks import verify
from gateway.ingress.tokens import TOKEN_TTL
from gateway.model.message import MessageState, SenderKind, SenderStatus
from gateway.model.outcomes import Accepted
from gateway.model.records import Enqueued, Lease, NewMessage, OutcomeRecord
from gateway.store import open_store
from tests.e2e.system import (
    ACCOUNT,
    PRICE,
    SENDER,
    TOPUP,
    prepare_store,
    running_daemon,
    running_system,
    smpp_link,
    status_events,
    write_config,
)
from tests.fixtures.mosquitto import MosquittoBroker
from tests.waiting import eventually
from tests.webhook_receiver import webhook_receiver

LONG = "Bonjour, ceci est un message long avec un euro € pour voir la concaténation. " * 4


async def test_http_send_goes_to_delivered_with_its_segments(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        status, doc = await gw.send({"from": "ACME", "to": ["+33612345678"], "text": LONG})
        assert status == 202, doc
        [msg] = doc["messages"]
        assert msg["segments"] == 3
        await gw.wait_state(msg["id"], "delivered")
        view = await gw.message(msg["id"])
        assert [s["state"] for s in view["segments"]] == ["delivered"] * 3
        assert all(s["smsc_id"] for s in view["segments"])
        submits = [s for s in gw.submits() if s["to"] == "33612345678"]
        assert len(submits) == 3
        assert all(s["esm"] & 0x40 for s in submits)  # concatenation header present
        assert await gw.balance() == TOPUP - 3 * PRICE
        assert await gw.metric("smsgw_receipts_total", link="smsc-1", state="delivered") == 3
        assert await gw.metric("smsgw_segments_submitted_total", link="smsc-1") == 3
        assert (
            await gw.metric("smsgw_submit_outcomes_total", link="smsc-1", outcome="accepted") == 3
        )


async def test_many_messages_all_delivered_once_with_an_exact_ledger(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        numbers = [f"+3361234{i:04d}" for i in range(200)]
        status, doc = await gw.send({"from": "ACME", "to": numbers, "text": "hello"})
        assert status == 202, doc
        ids = [m["id"] for m in doc["messages"]]
        await asyncio.gather(*(gw.wait_state(i, "delivered") for i in ids))
        sent_to = sorted(s["to"] for s in gw.submits())
        assert sent_to == sorted(n[1:] for n in numbers)
        assert await gw.balance() == TOPUP - len(numbers) * PRICE


async def test_throttling_and_a_dropped_link_still_deliver_everything_once(
    tmp_path: Path,
) -> None:
    config = SimConfig(dlr=True, throttle_share=0.05, drop_after=60)
    async with running_system(tmp_path, sim_config=config) as gw:
        numbers = [f"+3361234{i:04d}" for i in range(100)]
        status, doc = await gw.send({"from": "ACME", "to": numbers, "text": "hi"})
        assert status == 202, doc
        await asyncio.gather(
            *(gw.wait_state(m["id"], "delivered", timeout=60) for m in doc["messages"])
        )
        accepted = [s for s in gw.submits() if "message_id" in s]
        throttled = [s for s in gw.submits() if s.get("answer") == "ESME_RTHROTTLED"]
        drops = sum(1 for r in gw.sim.records if r.get("event") == "disconnected")
        assert throttled
        assert drops >= 1
        assert {s["to"] for s in accepted} == {n[1:] for n in numbers}
        # a drop loses the answers in flight: their resends are the only duplicates,
        # at most one window (64) per drop
        assert len(accepted) - len(numbers) <= 64 * drops
        assert await gw.balance() == TOPUP - len(numbers) * PRICE


async def test_reply_is_stored_for_the_owner_of_the_number(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        await eventually(lambda: bool(gw.sim.bound()), what="link bound at the SMSC")
        gw.sim.inject_mo(
            source="+33611111111",
            destination="+33700000001",
            text="Oui, merci ! " * 20,
            parts=None,
            order=None,
        )

        async def arrived() -> bool:
            async with gw.http.get(f"{gw.base}/v1/inbound", headers=gw.auth()) as r:
                return bool((await r.json())["inbound"])

        await eventually(arrived, what="the reply")
        async with gw.http.get(f"{gw.base}/v1/inbound", headers=gw.auth()) as r:
            [reply] = (await r.json())["inbound"]
        assert reply["text"] == "Oui, merci ! " * 20
        assert reply["from"] == "+33611111111"
        assert await gw.metric("smsgw_inbound_messages_total", link="smsc-1", account="acme") == 1


async def test_receipts_for_ids_never_sent_are_unmatched_not_delivered(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        status, doc = await gw.send({"from": "ACME", "to": "+33612345678", "text": "one"})
        assert status == 202, doc
        await gw.wait_state(doc["messages"][0]["id"], "delivered")
        gw.sim.inject_receipts([f"{0xF00000 + i:x}" for i in range(50)])

        async def counted() -> bool:
            return await gw.metric("smsgw_receipts_unmatched_total", link="smsc-1") == 50

        await eventually(counted, what="50 unmatched receipts")
        assert gw.sim.unanswered() == 0  # acknowledged: kept, not refused
        assert await gw.metric("smsgw_receipts_total", link="smsc-1", state="delivered") == 1


async def test_mqtt_send_is_stored_sent_and_reported(
    tmp_path: Path, mosquitto_broker: MosquittoBroker
) -> None:
    async with (
        running_system(tmp_path, mqtt_url=mosquitto_broker.url) as gw,
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port, identifier="upstream") as up,
    ):
        await up.subscribe("smsgw/acme/status", qos=1)
        await up.subscribe("smsgw/acme/rejected", qos=1)
        await up.publish(
            "smsgw/acme/send",
            json.dumps(
                {"from": "ACME", "to": ["+33612345678"], "text": "via mqtt", "client_ref": "m-1"}
            ),
            qos=1,
        )
        await up.publish("smsgw/acme/send", b'{"from": "ACME", "to": ["0612345678"]}', qos=1)
        seen: list[bytes] = []
        rejected: list[dict[str, object]] = []

        async def collect() -> None:
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                if message.topic.matches("smsgw/acme/rejected"):
                    rejected.append(json.loads(message.payload))
                else:
                    seen.append(message.payload)

        reader = asyncio.create_task(collect())
        try:

            def delivered() -> bool:
                docs = [json.loads(p) for p in seen]
                return any(d["state"] == "delivered" for d in docs)

            await eventually(delivered, what="the delivered event")
            await eventually(lambda: bool(rejected), what="the rejected event")
        finally:
            reader.cancel()
        [first, *_] = [json.loads(p) for p in seen]
        states = status_events(seen, first["id"])
        # "submitted" is skipped when the receipt lands in the same batch as the answer
        assert states in (["queued", "submitted", "delivered"], ["queued", "delivered"])
        assert first["client_ref"] == "m-1"
        assert rejected[0]["error"] in {"invalid_recipient", "missing_field"}
        assert await gw.balance() == TOPUP - PRICE
        broker = f"{mosquitto_broker.host}:{mosquitto_broker.port}"
        assert await gw.metric("smsgw_mqtt_connected", broker=broker) == 1


# sends every front door refuses with the send pipeline's own message (client_ref: the case)
PIPELINE_REFUSALS: dict[str, dict[str, object]] = {
    "empty": {"text": ""},
    "blank": {"text": " \n "},
    "far": {"send_at": "9999-12-31T23:59:59-23:00"},
    "past": {"send_at": "0001-01-01T00:00:00+01:00"},
    "validity": {"validity": 441 * 86400 + 1},
}


async def test_mqtt_and_http_refuse_what_the_pipeline_refuses_with_one_message(
    tmp_path: Path, mosquitto_broker: MosquittoBroker
) -> None:
    async with (
        running_system(tmp_path, mqtt_url=mosquitto_broker.url) as gw,
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port, identifier="upstream") as up,
    ):
        await up.subscribe("smsgw/acme/rejected", qos=1)
        rejected: dict[str, dict[str, object]] = {}

        async def collect() -> None:
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                doc = json.loads(message.payload)
                rejected[doc["client_ref"]] = doc

        reader = asyncio.create_task(collect())
        try:
            for case, fields in PIPELINE_REFUSALS.items():
                body = {
                    "from": "ACME",
                    "to": ["+33612345678"],
                    "text": "hello",
                    "client_ref": case,
                    **fields,
                }
                await up.publish("smsgw/acme/send", json.dumps(body), qos=1)
            await eventually(
                lambda: len(rejected) == len(PIPELINE_REFUSALS), what="every rejected event"
            )
        finally:
            reader.cancel()
        for case, fields in PIPELINE_REFUSALS.items():
            status, answer = await gw.send(
                {"from": "ACME", "to": ["+33612345678"], "text": "hello", **fields}
            )
            assert status == 400, (case, answer)
            # a limit quoted from "now" ("365 days ahead: <time>") may fall a second
            # apart between the two requests: the times are compared within seconds
            assert (rejected[case]["error"], _untimed(rejected[case]["detail"])) == (
                answer["error"],
                _untimed(answer["detail"]),
            ), case
            assert _times_close(rejected[case]["detail"], answer["detail"]), case
        assert rejected["empty"]["detail"] == "the text is empty: give the message to send"
        assert str(rejected["far"]["detail"]).startswith("send_at is more than 365 days ahead")
        assert await gw.balance() == TOPUP


async def smsgw(config: Path, *argv: str) -> tuple[int, str]:
    """``smsgw ARGV -c CONFIG`` in a process of its own: its exit code and stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *argv,
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_metrics_count_what_the_cli_did_beside_the_daemon(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        config = tmp_path / "gateway.toml"
        assert (await smsgw(config, "account", "set", ACCOUNT, "--alert-below", str(TOPUP - 1)))[
            0
        ] == 0
        send = ("send", "--account", ACCOUNT, "--from", SENDER, "--text", "from the cli")
        code, out = await smsgw(config, *send, "--to", "+33612345678", "--to", "+33612345679")
        assert code == 0
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        code, out = await smsgw(config, *send, "--to", "+33612345670", "--at", later)
        assert code == 0
        assert (await smsgw(config, "message", "cancel", out.strip()))[0] == 0
        assert (await smsgw(config, *send, "--to", "+33612345678", "--priority", "9"))[0] == 1
        # and a cancellation through the API, in the daemon's own process
        status, sent = await gw.send(
            {"from": SENDER, "to": ["+33612345671"], "text": "api", "send_at": later}
        )
        assert status == 202
        async with gw.http.post(
            f"{gw.base}/v1/messages/{sent['messages'][0]['id']}/cancel", headers=gw.auth()
        ) as r:
            assert r.status == 200

        async def counts() -> tuple[float | None, ...]:
            return (
                await gw.metric("smsgw_messages_accepted_total", account=ACCOUNT, channel="cli"),
                await gw.metric("smsgw_messages_final_total", account=ACCOUNT, status="cancelled"),
                await gw.metric("smsgw_credit_low_crossings_total", account=ACCOUNT),
                await gw.metric(
                    "smsgw_messages_rejected_total", account=ACCOUNT, reason="invalid_value"
                ),
            )

        # the daemon takes the CLI's counts from the store now and then: any of
        # them may come a round after the others
        async def counted() -> bool:
            return await counts() == (3, 2, 1, 1)

        await eventually(counted, what="the CLI's sends, refusal and crossing, both cancellations")


async def test_a_token_revoked_with_the_cli_is_refused_by_the_running_daemon(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path) as gw:
        assert await gw.balance() == TOPUP  # the token works
        code, out = await smsgw(tmp_path / "gateway.toml", "token", "list", ACCOUNT, "--json")
        assert code == 0
        [token] = json.loads(out)["tokens"]
        assert gw.token.startswith(token["prefix"])
        assert gw.token not in out
        code, _ = await smsgw(tmp_path / "gateway.toml", "token", "revoke", str(token["id"]))
        assert code == 0

        async def refused() -> bool:
            async with gw.http.get(f"{gw.base}/v1/balance", headers=gw.auth()) as r:
                if r.status == 200:
                    return False
                assert r.status == 401
                assert (await r.json())["error"] == "unauthorized"
                return True

        # the daemon remembers a token's account for TOKEN_TTL (gateway.ingress.tokens)
        await eventually(refused, timeout=TOKEN_TTL + 10, what="the revoked token refused")


async def test_links_page_shows_the_bound_link(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        async with gw.http.get(f"{gw.base}/links") as r:
            assert r.status == 200
            [link] = (await r.json())["links"]
        assert (link["name"], link["driver"], link["bound"]) == ("smsc-1", "smpp", True)
        assert link["window"] == 64


async def test_status_webhook_is_signed_with_the_account_secret(tmp_path: Path) -> None:
    async with webhook_receiver() as hooks:
        received = hooks.seen
        async with running_system(tmp_path) as gw:
            status, doc = await gw.send(
                {
                    "from": "ACME",
                    "to": "+33612345678",
                    "text": "hook me",
                    "callback_url": hooks.url,
                }
            )
            assert status == 202, doc

            def delivered_posted() -> bool:
                return any(json.loads(body)["state"] == "delivered" for body, _ in received)

            await eventually(delivered_posted, what="the delivered webhook")
            store = await open_store(f"sqlite:///{gw.db}")
            try:
                secret = await store.webhook_secret("acme")
            finally:
                await store.close()
        for body, signature in received:
            assert verify(signature, body, secret, now=time.time())
            assert json.loads(body)["id"] == doc["messages"][0]["id"]


async def test_messages_wait_out_an_smsc_outage_and_leave_when_it_returns(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path) as gw:
        port = gw.sim.port
        await gw.sim.close()
        status, doc = await gw.send({"from": "ACME", "to": "+33612345678", "text": "later"})
        assert status == 202, doc
        message_id = doc["messages"][0]["id"]

        async def retried() -> bool:
            view = await gw.message(message_id)
            return view["state"] == "queued" and int(view["attempts"]) >= 2

        await eventually(retried, what="two tries while the SMSC is down")
        gw.sim = SmscSimulator(config=SimConfig(dlr=True), port=port)
        await gw.sim.start()
        await gw.wait_state(message_id, "delivered", timeout=30)
        assert len(gw.submits()) == 1


async def test_after_an_smsc_outage_priority_3_leaves_before_priority_0(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path) as gw:
        port = gw.sim.port
        await gw.sim.close()
        low = [f"+3361000{i:04d}" for i in range(20)]
        high = [f"+3363000{i:04d}" for i in range(20)]
        ids: list[str] = []
        for numbers, priority in ((low, 0), (high, 3)):  # the low ones come first
            status, doc = await gw.send(
                {"from": "ACME", "to": numbers, "text": "after", "priority": priority}
            )
            assert status == 202, doc
            ids += [m["id"] for m in doc["messages"]]

        async def all_waiting() -> bool:
            views = [await gw.message(i) for i in ids]
            return all(v["state"] == "queued" and int(v["attempts"]) >= 1 for v in views)

        await eventually(all_waiting, what="every message waiting for the SMSC")
        gw.sim = SmscSimulator(config=SimConfig(dlr=True), port=port)
        await gw.sim.start()
        for message_id in ids:
            await gw.wait_state(message_id, "delivered", timeout=30)
        order = [r["to"] for r in gw.submits()]
    assert sorted(order[:20]) == sorted(n[1:] for n in high), order
    assert sorted(order[20:]) == sorted(n[1:] for n in low)


async def test_a_journal_left_by_a_crash_is_recorded_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    # a crash after the SMSC accepted a segment and the journal kept it, before the
    # store recorded it: at the next start the daemon records it, and sends nothing
    sim = SmscSimulator(config=SimConfig(dlr=False), port=0)
    await sim.start()
    config = load_config(write_config(tmp_path / "gateway.toml", smsc_port=sim.port))
    await prepare_store(config.store.url, config.base_dir)
    store = await open_store(config.store.url, base=config.base_dir)
    try:
        result = await store.enqueue(
            [
                NewMessage(
                    account=ACCOUNT,
                    sender=SENDER,
                    sender_kind=SenderKind.ALPHA,
                    destination="+33612345678",
                    text="sent before the crash",
                    encoding="gsm7",
                    segments=1,
                    price=PRICE,
                )
            ],
            lease=Lease(worker="e2e", seconds=300),
        )
        [enqueued] = result.results
        assert isinstance(enqueued, Enqueued)
        journal, _ = AcceptJournal.open(journal_base(tmp_path / "gw.db", "e2e"))
        journal.recovered()
        journal.start()
        _, durable = journal.append(
            [
                OutcomeRecord(
                    message_id=enqueued.message.id,
                    index=0,
                    link="smsc-1",
                    outcome=Accepted(smsc_id="abc123"),
                )
            ]
        )
        await durable
        await journal.close()  # not stored: the file stays, as a crash leaves it
    finally:
        await store.close()
    try:
        async with running_daemon(config):
            store = await open_store(config.store.url, base=config.base_dir)
            try:
                view = await store.get_message(enqueued.message.id)
            finally:
                await store.close()
    finally:
        await sim.close()
    assert view.message.state is MessageState.SUBMITTED
    assert [(s.smsc_id, s.link) for s in view.segments] == [("abc123", "smsc-1")]
    assert [r for r in sim.records if r.get("event") == "submit_sm"] == []
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("gw.db-e2e.accepted.*")))


async def test_replies_to_a_virtual_number_written_as_smscs_write_it_reach_its_owner(
    tmp_path: Path,
) -> None:
    # the SMSC names the number with TON 0 and international digits, or in national
    # form (TON 2, or TON 0 with the trunk prefix): each reply reaches the owner
    sim = SmscSimulator(config=SimConfig(), port=0)
    await sim.start()
    link = smpp_link(sim.port) + 'country = "GB"\n'
    config = load_config(write_config(tmp_path / "gateway.toml", smsc_port=sim.port, link=link))
    await prepare_store(config.store.url, config.base_dir)
    store = await open_store(config.store.url, base=config.base_dir)
    numbers = {ACCOUNT: "+447911123456", "beta": "+447400123456"}
    try:
        await store.create_account("beta")
        for account, number in numbers.items():
            await store.add_sender(account, number, SenderKind.NUMBER)
            await store.set_sender_status(account, number, SenderStatus.APPROVED)
    finally:
        await store.close()
    sent = [
        (ACCOUNT, "447911123456", 0),
        (ACCOUNT, "07911123456", 2),
        (ACCOUNT, "07911123456", 0),
        ("beta", "447400123456", 0),
        ("beta", "7400123456", 2),
    ]
    try:
        async with running_daemon(config):
            await eventually(lambda: bool(sim.bound()), what="link bound at the SMSC")
            for i, (_, digits, ton) in enumerate(sent):
                sim.inject_mo(
                    source="07700123456",
                    source_ton=2,
                    destination=digits,
                    dest_ton=ton,
                    text=f"reply {i}",
                )
            store = await open_store(config.store.url, base=config.base_dir)
            try:

                async def stored() -> bool:
                    return len(await store.list_inbound()) == len(sent)

                await eventually(stored, what="every reply stored")
                replies = await store.list_inbound()
            finally:
                await store.close()
    finally:
        await sim.close()
    got = {r.text: (r.account, r.destination, r.source) for r in replies}
    assert got == {
        f"reply {i}": (account, numbers[account], "+447700123456")
        for i, (account, _, _) in enumerate(sent)
    }


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _untimed(detail: object) -> str:
    return _ISO_TIME.sub("<time>", str(detail))


def _times_close(a: object, b: object, *, within: float = 5.0) -> bool:
    """The ISO times two details quote are the same ones, give or take ``within`` s."""
    times = [[dt.datetime.fromisoformat(t) for t in _ISO_TIME.findall(str(x))] for x in (a, b)]
    return len(times[0]) == len(times[1]) and all(
        abs((x - y).total_seconds()) <= within for x, y in zip(*times, strict=True)
    )
