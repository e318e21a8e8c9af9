"""The PostgreSQL schema, its version, and the migrations that run when a store opens.

The same tables as the SQLite backend's (gateway/store/sqlite/schema.py at its
version 5), in PostgreSQL's types: money and counts ``bigint``, times
``double precision`` (POSIX seconds, as everywhere in smsgw), bodies
``bytea``. ``smsgw_meta`` marks a smsgw database and holds its schema
version; a database with other tables and no ``smsgw_meta`` is refused, so
smsgw never writes into another application's database. Migration *n* takes
version n-1 to n; all of them run in one transaction under an advisory lock,
so two daemons opening a fresh database at once do not both migrate it.
"""

from __future__ import annotations

from typing import Any

from gateway.model.errors import NotASmsgwDatabase

APPLICATION = "smsgw"
# pg_advisory_xact_lock key of the migration: "SMSG" as a 32-bit integer
MIGRATION_LOCK = 0x534D5347

_V1 = """
CREATE TABLE smsgw_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE accounts (
    name           text PRIMARY KEY,
    balance        bigint NOT NULL DEFAULT 0,
    credit_limit   bigint NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    monthly_cap    bigint CHECK (monthly_cap IS NULL OR monthly_cap >= 0),
    alert_below    bigint,
    alert_armed    boolean NOT NULL DEFAULT true,  -- false after a crossing, until back above
    month          text NOT NULL DEFAULT '',       -- 'YYYY-MM' (UTC) of month_spent
    month_spent    bigint NOT NULL DEFAULT 0,
    created_at     double precision NOT NULL,
    webhook_secret text NOT NULL DEFAULT '',
    CHECK (balance >= -credit_limit)
);
CREATE TABLE api_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text NOT NULL REFERENCES accounts(name),
    token_hash text NOT NULL UNIQUE,               -- sha256 hex of the token
    prefix     text NOT NULL,
    created_at double precision NOT NULL
);
CREATE TABLE senders (
    account    text NOT NULL REFERENCES accounts(name),
    value      text NOT NULL,
    kind       text NOT NULL,
    status     text NOT NULL,
    reason     text,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (account, value)
);
CREATE INDEX senders_value ON senders(value);
CREATE UNIQUE INDEX senders_one_owner ON senders(value)
    WHERE status = 'approved' AND kind <> 'alpha';
CREATE TABLE prices (
    account text NOT NULL DEFAULT '',               -- '' = the default list
    prefix  text NOT NULL,
    credits bigint NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (account, prefix)
);
CREATE TABLE phonebooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text NOT NULL REFERENCES accounts(name),
    name       text NOT NULL,
    created_at double precision NOT NULL,
    UNIQUE (account, name)
);
CREATE TABLE contacts (
    phonebook_id bigint NOT NULL REFERENCES phonebooks(id),
    number       text NOT NULL,
    name         text NOT NULL DEFAULT '',
    PRIMARY KEY (phonebook_id, number)
);
CREATE TABLE messages (
    id              text PRIMARY KEY,              -- time-sortable (ULID-like)
    account         text NOT NULL REFERENCES accounts(name),
    sender          text NOT NULL,
    sender_kind     text NOT NULL,
    destination     text NOT NULL,
    text            text NOT NULL,
    encoding        text NOT NULL,
    segments        integer NOT NULL,
    price           bigint NOT NULL,
    credits         bigint NOT NULL,
    msg_class       text NOT NULL,
    send_at         double precision NOT NULL,
    validity        integer,
    priority        integer NOT NULL DEFAULT 0,
    client_ref      text,
    body_hash       text,
    callback_url    text,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,     -- max(send_at, retry time)
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    lease_owner     text,
    lease_until     double precision,
    error           text
);
CREATE INDEX messages_account ON messages(account, id);
CREATE INDEX messages_due ON messages(priority DESC, id, next_attempt_at) WHERE state = 'queued';
CREATE INDEX messages_next ON messages(next_attempt_at, priority) WHERE state = 'queued';
CREATE INDEX messages_leased ON messages(lease_until) WHERE state = 'dispatching';
CREATE INDEX messages_submitted ON messages(updated_at) WHERE state = 'submitted';
CREATE UNIQUE INDEX messages_client_ref ON messages(account, client_ref, destination)
    WHERE client_ref IS NOT NULL;
CREATE TABLE segments (
    message_id    text NOT NULL REFERENCES messages(id),
    idx           integer NOT NULL,
    state         text NOT NULL,
    smsc_id       text,
    link          text,
    submitted_at  double precision,                -- set when an SMSC accepted it
    receipt_state text,
    error         text,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX segments_smsc ON segments(link, smsc_id) WHERE smsc_id IS NOT NULL;
CREATE TABLE pending_receipts (                    -- receipts that overtook their submit_sm_resp
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link        text NOT NULL,
    smsc_id     text NOT NULL,
    state       text NOT NULL,
    error       text,
    received_at double precision NOT NULL
);
CREATE INDEX pending_receipts_smsc ON pending_receipts(link, smsc_id);
CREATE TABLE inbound (
    id          text PRIMARY KEY,
    account     text,
    link        text NOT NULL,
    source      text NOT NULL,
    destination text NOT NULL,
    text        text NOT NULL,
    received_at double precision NOT NULL
);
CREATE INDEX inbound_account ON inbound(account, id);
CREATE TABLE ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account       text NOT NULL REFERENCES accounts(name),
    at            double precision NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('topup', 'debit', 'refund', 'adjustment')),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    reference     text,
    message_id    text,
    note          text
);
CREATE INDEX ledger_account ON ledger(account, id);
CREATE UNIQUE INDEX ledger_topup_ref ON ledger(account, reference) WHERE kind = 'topup';
CREATE UNIQUE INDEX ledger_message ON ledger(message_id, kind) WHERE message_id IS NOT NULL;
CREATE TABLE outbox (                              -- MQTT outbox, oldest first
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    events     integer NOT NULL,                   -- how many events body holds
    body       bytea NOT NULL,                     -- gateway.store.payloads
    created_at double precision NOT NULL
);
CREATE TABLE webhooks (                            -- status events to callback URLs
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text NOT NULL,
    url        text NOT NULL,
    payload    bytea NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    next_at    double precision NOT NULL,
    state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    last_error text,
    created_at double precision NOT NULL
);
CREATE INDEX webhooks_due ON webhooks(state, next_at);
CREATE TABLE metric_counts (
    name   text NOT NULL,                  -- a Metrics method (gateway.ops.metric_sinks.STORED)
    labels text NOT NULL,                          -- its keyword arguments, JSON, sorted keys
    amount bigint NOT NULL,
    PRIMARY KEY (name, labels)
);
"""

# MIGRATIONS[n - 1] takes the schema from version n - 1 to n
MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(conn: Any, *, where: str) -> int:
    """Check that ``conn``'s database is a smsgw one (or empty) and bring it to
    SCHEMA_VERSION; the version found before. ``where`` names the database in errors
    (never with a password)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        version = await _version(conn, where)
        if version > SCHEMA_VERSION:
            msg = (
                f"{where} has schema version {version}, newer than this smsgw knows "
                f"({SCHEMA_VERSION}): upgrade smsgw"
            )
            raise NotASmsgwDatabase(msg)
        for script in MIGRATIONS[version:]:
            for statement in statements(script):
                await conn.execute(statement)
        if version < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO smsgw_meta (key, value) VALUES ('application', $1), ('version', $2) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                APPLICATION,
                str(SCHEMA_VERSION),
            )
    return version


async def _version(conn: Any, where: str) -> int:
    """The schema version of a smsgw database, 0 for an empty one; refuses others."""
    if await conn.fetchval("SELECT to_regclass('smsgw_meta')") is None:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        )
        if tables:
            msg = f"{where} is not a smsgw database (it holds tables of another application)"
            raise NotASmsgwDatabase(msg)
        return 0
    rows = dict(await conn.fetch("SELECT key, value FROM smsgw_meta"))
    if rows.get("application") != APPLICATION or not rows.get("version", "").isdigit():
        msg = f"{where} is not a smsgw database (its smsgw_meta table is not smsgw's)"
        raise NotASmsgwDatabase(msg)
    return int(rows["version"])
