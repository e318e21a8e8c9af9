"""SQLite schema, its version, and the migrations that run when a store opens.

A smsgw database carries ``PRAGMA application_id = APPLICATION_ID`` so that
``smsgw`` recognises its own files and refuses any other SQLite file, and
``PRAGMA user_version`` = the schema version. Migration *n* takes version n-1
to n; they run in one ``BEGIN IMMEDIATE`` transaction, so two processes
opening a fresh file at once do not both migrate it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from gateway.model.errors import NotASmsgwDatabase
from gateway.model.ids import new_webhook_secret
from gateway.store.payloads import pack_event
from gateway.store.sqlite.events import add_outbox

APPLICATION_ID = 0x534D5347  # "SMSG"

_V1 = """
CREATE TABLE accounts (
    name         TEXT PRIMARY KEY,
    balance      INTEGER NOT NULL DEFAULT 0,
    credit_limit INTEGER NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    monthly_cap  INTEGER CHECK (monthly_cap IS NULL OR monthly_cap >= 0),
    alert_below  INTEGER,
    alert_armed  INTEGER NOT NULL DEFAULT 1,   -- 0 after a crossing, until back above
    month        TEXT NOT NULL DEFAULT '',     -- 'YYYY-MM' (UTC) of month_spent
    month_spent  INTEGER NOT NULL DEFAULT 0,
    created_at   REAL NOT NULL,
    CHECK (balance >= -credit_limit)
);
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts(name),
    token_hash TEXT NOT NULL UNIQUE,           -- sha256 hex of the token
    prefix     TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE senders (
    account    TEXT NOT NULL REFERENCES accounts(name),
    value      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, value)
) WITHOUT ROWID;
CREATE INDEX senders_value ON senders(value);
CREATE TABLE prices (
    account TEXT NOT NULL DEFAULT '',           -- '' = the default list
    prefix  TEXT NOT NULL,
    credits INTEGER NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (account, prefix)
) WITHOUT ROWID;
CREATE TABLE phonebooks (
    id         INTEGER PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts(name),
    name       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (account, name)
);
CREATE TABLE contacts (
    phonebook_id INTEGER NOT NULL REFERENCES phonebooks(id),
    number       TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (phonebook_id, number)
) WITHOUT ROWID;
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,          -- time-sortable (ULID-like)
    account         TEXT NOT NULL REFERENCES accounts(name),
    sender          TEXT NOT NULL,
    sender_kind     TEXT NOT NULL,
    destination     TEXT NOT NULL,
    text            TEXT NOT NULL,
    encoding        TEXT NOT NULL,
    segments        INTEGER NOT NULL,
    price           INTEGER NOT NULL,
    credits         INTEGER NOT NULL,
    msg_class       TEXT NOT NULL,
    send_at         REAL NOT NULL,
    validity        INTEGER,
    priority        INTEGER NOT NULL DEFAULT 0,
    client_ref      TEXT,
    body_hash       TEXT,
    callback_url    TEXT,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,             -- max(send_at, retry time)
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    error           TEXT
) WITHOUT ROWID;
CREATE INDEX messages_account ON messages(account, id);
CREATE INDEX messages_due ON messages(priority DESC, id) WHERE state = 'queued';
CREATE INDEX messages_leased ON messages(lease_until) WHERE state = 'dispatching';
CREATE UNIQUE INDEX messages_client_ref ON messages(account, client_ref, destination)
    WHERE client_ref IS NOT NULL;
CREATE TABLE segments (
    message_id    TEXT NOT NULL REFERENCES messages(id),
    idx           INTEGER NOT NULL,
    state         TEXT NOT NULL,
    smsc_id       TEXT,
    link          TEXT,
    submitted_at  REAL,                         -- set when an SMSC accepted it
    receipt_state TEXT,
    error         TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (message_id, idx)
) WITHOUT ROWID;
CREATE INDEX segments_smsc ON segments(link, smsc_id) WHERE smsc_id IS NOT NULL;
CREATE TABLE pending_receipts (                 -- receipts that overtook their submit_sm_resp
    id          INTEGER PRIMARY KEY,
    link        TEXT NOT NULL,
    smsc_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    error       TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX pending_receipts_smsc ON pending_receipts(link, smsc_id);
CREATE TABLE inbound (
    id          TEXT PRIMARY KEY,
    account     TEXT,
    link        TEXT NOT NULL,
    source      TEXT NOT NULL,
    destination TEXT NOT NULL,
    text        TEXT NOT NULL,
    received_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbound_account ON inbound(account, id);
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(name),
    at            REAL NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'debit', 'refund', 'adjustment')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    reference     TEXT,
    message_id    TEXT,
    note          TEXT
);
CREATE INDEX ledger_account ON ledger(account, id);
CREATE UNIQUE INDEX ledger_topup_ref ON ledger(account, reference) WHERE kind = 'topup';
CREATE UNIQUE INDEX ledger_message ON ledger(message_id, kind) WHERE message_id IS NOT NULL;
"""

# v2: the transactional outbox. Every status change, stored reply and refused
# send writes its event row in the transaction of the change itself; the
# publisher (gateway.events.publisher) deletes rows once published / delivered.
# CHECKs are written with OR: SQLite (3.40) builds an ephemeral table for an
# IN list at every row inserted, 1.5 us per event row.
_V2 = """
CREATE TABLE events (                            -- MQTT outbox, oldest first
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind = 'status' OR kind = 'inbound' OR kind = 'rejected'),
    payload    BLOB NOT NULL,                   -- UTF-8 JSON
    created_at REAL NOT NULL
);
CREATE TABLE webhooks (                          -- status events to callback URLs
    id         INTEGER PRIMARY KEY,
    account    TEXT NOT NULL,
    url        TEXT NOT NULL,
    payload    BLOB NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state = 'pending' OR state = 'failed'),
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX webhooks_due ON webhooks(state, next_at);
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';
DROP INDEX messages_due;
CREATE INDEX messages_due ON messages(priority DESC, id, next_attempt_at) WHERE state = 'queued';
CREATE INDEX messages_next ON messages(next_attempt_at, priority) WHERE state = 'queued';
"""


# v3: the MQTT outbox holds one row per transaction's events (see
# gateway.store.sqlite.events): a status change costs a few bytes in a row
# instead of a row of its own, inserted, read back and deleted. Rows of the
# v2 table move over one event per row (_move_events). Submitted messages get
# an index of their own: counting them (the queue-depth gauge) and finding
# those whose receipts never came read only them, not the whole table.
_V3 = """
CREATE TABLE outbox (                            -- MQTT outbox, oldest first
    id         INTEGER PRIMARY KEY,
    events     INTEGER NOT NULL,                 -- how many events body holds
    body       BLOB NOT NULL,                    -- events (gateway.store.sqlite.events)
    created_at REAL NOT NULL
);
CREATE INDEX messages_submitted ON messages(updated_at) WHERE state = 'submitted';
"""


# v5: counters of work done by a process that is not the daemon (a CLI send or
# cancel, a low-credit crossing it caused), left for the daemon to add to its
# metrics; one row per counter and label set, so the table stays as small as
# the label values, whoever writes and however long no daemon runs.
_V5 = """
CREATE TABLE metric_counts (
    name   TEXT NOT NULL,                    -- a Metrics method (gateway.ops.metric_sinks.STORED)
    labels TEXT NOT NULL,                    -- its keyword arguments, JSON, sorted keys
    amount INTEGER NOT NULL,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID;
"""


# v6: the parts of concatenated replies, held from the moment their link
# acknowledged them until their reply is whole (then stored in the same
# transaction) or silent for the reassembly timeout (released incomplete); the
# parts of a stored reply stay, done, for that timeout, so that a copy the peer
# sends again is known (gateway.store.reassembly).
_V6 = """
CREATE TABLE inbound_parts (
    source         TEXT NOT NULL,
    destination    TEXT NOT NULL,
    reference      INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    sequence       INTEGER NOT NULL,              -- 1-based
    link           TEXT NOT NULL,
    data_coding    INTEGER NOT NULL,
    payload        BLOB NOT NULL,                 -- user data without its header
    received_at    REAL NOT NULL,
    smsc_timestamp REAL,
    account        TEXT,                          -- the destination's owner when it came
    done           INTEGER NOT NULL DEFAULT 0,    -- 1: its reply is stored
    PRIMARY KEY (source, destination, reference, total, sequence)
) WITHOUT ROWID;
CREATE INDEX inbound_parts_received ON inbound_parts(received_at);
"""


_CONSOLE = """
CREATE TABLE logins (
    email           TEXT PRIMARY KEY,              -- lower case
    account         TEXT NOT NULL REFERENCES accounts(name),
    role            TEXT NOT NULL CHECK (role IN ('customer', 'operator')),
    password_hash   TEXT NOT NULL,                 -- scrypt$n$r$p$salt$hash
    must_change     INTEGER NOT NULL DEFAULT 1,    -- 1: a one-time password
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    REAL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX logins_account ON logins(account);
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,                   -- sha256 hex of the cookie's token
    email      TEXT NOT NULL REFERENCES logins(email),
    csrf       TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_email ON console_sessions(email);
CREATE INDEX console_sessions_expires ON console_sessions(expires_at);
"""


def _move_events(conn: sqlite3.Connection) -> None:
    for account, kind, payload, created_at in conn.execute(
        "SELECT account, kind, payload, created_at FROM events ORDER BY id"
    ).fetchall():
        add_outbox(conn, [pack_event(kind, account, bytes(payload))], created_at)
    conn.execute("DROP TABLE events")


def _fill_webhook_secrets(conn: sqlite3.Connection) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM accounts WHERE webhook_secret = ''")]
    conn.executemany(
        "UPDATE accounts SET webhook_secret = ? WHERE name = ?",
        [(new_webhook_secret(), n) for n in names],
    )


# v4: a short code or a virtual number has one approved owner at a time (replies
# go to it); alphanumeric names stay shareable. A database where one was
# approved for several accounts keeps the first approval (the earliest
# updated_at, then the account name); the later ones go back to pending with a
# reason, for the operator to decide (_one_owner_per_number, before the index).
_V4 = """
CREATE UNIQUE INDEX senders_one_owner ON senders(value)
    WHERE status = 'approved' AND kind <> 'alpha';
"""
SHARED_APPROVAL_REASON = (
    "approved for another account first: a short code or number has one owner at a time"
)


def _one_owner_per_number(conn: sqlite3.Connection) -> None:
    first: dict[str, str] = {}
    later: list[tuple[str, str]] = []
    for value, account in conn.execute(
        "SELECT value, account FROM senders WHERE status = 'approved' AND kind <> 'alpha' "
        "ORDER BY value, updated_at, account"
    ).fetchall():
        if first.setdefault(value, account) != account:
            later.append((account, value))
    conn.executemany(
        "UPDATE senders SET status = 'pending', reason = ? WHERE account = ? AND value = ?",
        [(SHARED_APPROVAL_REASON, account, value) for account, value in later],
    )


_ORDERS = """
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts(name),
    credits     INTEGER NOT NULL CHECK (credits > 0),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    payment_ref TEXT,                              -- the operator's, when paid
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX orders_account ON orders(account, id);
CREATE INDEX orders_status ON orders(status, id);
"""

_STOPLIST = """
CREATE TABLE stoplist (
    account    TEXT NOT NULL REFERENCES accounts(name),
    number     TEXT NOT NULL,                      -- E.164
    source     TEXT NOT NULL,                      -- 'reply' (a stop keyword) | 'operator'
    created_at REAL NOT NULL,
    PRIMARY KEY (account, number)
) WITHOUT ROWID;
"""

# the HTTP API's lists: a sender request keeps its reason (the refusal's is
# ``reason``); an account's messages are read newest first by (created_at, id),
# the keyset of GET /v1/messages' cursor (the index replaces (account, id))
_HTTP_API = """
ALTER TABLE senders ADD COLUMN request_reason TEXT;
DROP INDEX messages_account;
CREATE INDEX messages_account ON messages(account, created_at, id);
"""

# the SMPP server's credentials (gateway/store/esme_credentials.py: the hash's form).
# Another migration may have made the table with only (system_id, account), the
# columns it reads: whichever runs first, the table ends complete (rows it held
# keep no password: they bind only after `smsgw esme password`).
_ESME = """
CREATE TABLE IF NOT EXISTS esme_credentials (
    system_id TEXT PRIMARY KEY,
    account   TEXT NOT NULL REFERENCES accounts(name)
);
CREATE TABLE esme_credentials_full (
    system_id     TEXT PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(name),
    password_hash TEXT NOT NULL,                  -- scrypt$n$r$p$salt$hash
    max_binds     INTEGER NOT NULL,
    throughput    INTEGER,                        -- submits a second; NULL: no limit
    allow         TEXT NOT NULL DEFAULT '[]',     -- JSON list of CIDRs; empty: any
    options       TEXT NOT NULL DEFAULT '[]',     -- JSON list ("latin1")
    created_at    REAL NOT NULL
) WITHOUT ROWID;
INSERT INTO esme_credentials_full (system_id, account, password_hash, max_binds, created_at)
    SELECT system_id, account, '', 1, 0 FROM esme_credentials;
DROP TABLE esme_credentials;
ALTER TABLE esme_credentials_full RENAME TO esme_credentials;
CREATE INDEX esme_credentials_account ON esme_credentials(account);
"""


# the SMPP server's way back to the ESMEs (gateway.store.esme_deliveries): where a
# message came from, and the receipts and replies waiting for a credential's
# bound receivers. esme_credentials is the SMPP server's table; only the two
# columns read here are made when it is not there yet.
_ESME_DELIVERIES = """
ALTER TABLE messages ADD COLUMN esme_system_id TEXT;      -- NULL: not from an ESME
ALTER TABLE messages ADD COLUMN esme_registered_delivery INTEGER;
CREATE TABLE IF NOT EXISTS esme_credentials (
    system_id TEXT PRIMARY KEY,
    account   TEXT NOT NULL REFERENCES accounts(name)
);
CREATE TABLE esme_deliveries (
    id              INTEGER PRIMARY KEY,
    system_id       TEXT NOT NULL,
    account         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('receipt', 'reply')),
    source          TEXT NOT NULL,
    destination     TEXT NOT NULL,
    done_at         REAL NOT NULL,
    message_id      TEXT,                 -- receipts
    inbound_id      TEXT,                 -- replies
    state           TEXT,                 -- receipts: the receipt state
    error           INTEGER NOT NULL DEFAULT 0,
    submitted_at    REAL,
    segments        INTEGER NOT NULL DEFAULT 0,
    text            TEXT NOT NULL DEFAULT '',
    created_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    delivered_at    REAL                  -- NULL: still to deliver
);
CREATE UNIQUE INDEX esme_deliveries_receipt ON esme_deliveries(message_id, state)
    WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX esme_deliveries_reply ON esme_deliveries(inbound_id, system_id)
    WHERE inbound_id IS NOT NULL;
CREATE INDEX esme_deliveries_due ON esme_deliveries(system_id, next_attempt_at)
    WHERE delivered_at IS NULL;
CREATE INDEX esme_deliveries_created ON esme_deliveries(created_at);
CREATE INDEX esme_deliveries_delivered ON esme_deliveries(delivered_at)
    WHERE delivered_at IS NOT NULL;
"""

# a segment an ESME cut itself (gateway/model/raw_body.py: RawBody.pack), sent as is
_RAW_SEGMENTS = """
ALTER TABLE messages ADD COLUMN raw BLOB;                 -- NULL: the text, cut by smsgw
"""

# operators' API tokens (gateway/store/operator_tokens.py): a revoked one keeps its
# row, so that the name and id its log events carry still say which token it was;
# run again over a store that has them, it changes nothing
_OPERATOR_TOKENS = """
CREATE TABLE IF NOT EXISTS operator_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,              -- sha256 hex of the token
    prefix     TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL                               -- NULL: in force
);
CREATE UNIQUE INDEX IF NOT EXISTS operator_tokens_name ON operator_tokens(name)
    WHERE revoked_at IS NULL;
"""

# an account token's name, a label for people (gateway/store/accounts.py:
# check_token_name); the tokens made before have none. SQLite has no ADD COLUMN
# IF NOT EXISTS: the step is _name_tokens (AFTER), so that run again over a
# store that has the column it changes nothing, as _OPERATOR_TOKENS
_NAMED_TOKENS = """
-- api_tokens.name TEXT (NULL: no name), by _name_tokens
"""


def _name_tokens(conn: sqlite3.Connection) -> None:
    columns = {r[1] for r in conn.execute("PRAGMA table_info(api_tokens)")}
    if "name" not in columns:
        conn.execute("ALTER TABLE api_tokens ADD COLUMN name TEXT")


# MIGRATIONS[n - 1] takes the schema from version n - 1 to n; BEFORE[n] runs
# first and AFTER[n] then, what SQL alone cannot do (secrets from the OS's
# random source, choices row by row).
MIGRATIONS: tuple[str, ...] = (
    _V1,
    _V2,
    _V3,
    _V4,
    _V5,
    _V6,
    _ORDERS,
    _STOPLIST,
    _HTTP_API,
    _ESME,
    _CONSOLE,
    _ESME_DELIVERIES,
    _RAW_SEGMENTS,
    _OPERATOR_TOKENS,
    _NAMED_TOKENS,
)
BEFORE: dict[int, Callable[[sqlite3.Connection], None]] = {4: _one_owner_per_number}
AFTER: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _fill_webhook_secrets,
    3: _move_events,
    15: _name_tokens,
}
SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(conn: sqlite3.Connection, *, path: str) -> int:
    """Check that ``conn`` is a smsgw database (or empty) and bring it to SCHEMA_VERSION.

    Returns the version found before migrating. ``conn`` is in autocommit mode.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.DatabaseError as exc:
        raise NotASmsgwDatabase(f"{path} is not a smsgw database ({exc})") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or tables or version):
            msg = f"{path} is not a smsgw database (another application's SQLite file)"
            raise NotASmsgwDatabase(msg)
        if version > SCHEMA_VERSION:
            msg = (
                f"{path} has schema version {version}, newer than this smsgw knows "
                f"({SCHEMA_VERSION}): upgrade smsgw"
            )
            raise NotASmsgwDatabase(msg)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            before = BEFORE.get(number)
            if before is not None:
                before(conn)
            for statement in _statements(script):
                conn.execute(statement)
            step = AFTER.get(number)
            if step is not None:
                step(conn)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)
