-- frontline schema, SQLite dialect. migrations/postgres/0001_initial.sql holds the same tables,
-- columns and indexes; keep the two in step and never edit a migration once it has shipped.
-- Times are epoch milliseconds; ids are 64-bit; JSON lives in TEXT columns; booleans are 0/1.
-- AUTOINCREMENT so an id is never reused: transcript line ids double as the clients' poll cursor.

CREATE TABLE customers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    display_name TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (channel, external_id)
) STRICT;

CREATE TABLE web_sessions (
    id          TEXT    PRIMARY KEY,
    token_hash  TEXT    NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    created_at  INTEGER NOT NULL
) STRICT;

-- Removing an agent keeps the row (old tickets still show who handled them) but drops the token.
CREATE TABLE agents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    token_hash TEXT    UNIQUE,
    created_at INTEGER NOT NULL,
    removed_at INTEGER
) STRICT;
CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE removed_at IS NULL;

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel          TEXT    NOT NULL,
    conversation_key TEXT    NOT NULL,
    reply_to         TEXT    NOT NULL,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    state            TEXT    NOT NULL,
    misses           INTEGER NOT NULL,
    clarify          TEXT    NOT NULL,
    ticket_id        INTEGER REFERENCES tickets (id),
    disclosed        INTEGER NOT NULL CHECK (disclosed IN (0, 1)),
    answer_turn      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX conversations_key ON conversations (channel, conversation_key, id);

CREATE TABLE transcript_lines (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    author          TEXT    NOT NULL,
    author_name     TEXT,
    text            TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    intent          TEXT,
    confidence      REAL
) STRICT;
CREATE INDEX transcript_lines_conversation ON transcript_lines (conversation_id, id);

CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    channel         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    intents         TEXT    NOT NULL,
    assignee        INTEGER REFERENCES agents (id),
    created_at      INTEGER NOT NULL,
    claimed_at      INTEGER,
    first_reply_at  INTEGER,
    resolved_at     INTEGER,
    closed_at       INTEGER,
    csat            INTEGER
) STRICT;
CREATE INDEX tickets_status ON tickets (status, created_at, id);
CREATE INDEX tickets_customer ON tickets (customer_id, created_at, id);
CREATE INDEX tickets_claimed ON tickets (claimed_at) WHERE claimed_at IS NOT NULL;

CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel          TEXT    NOT NULL,
    external_id      TEXT    NOT NULL,
    customer_key     TEXT    NOT NULL,
    customer_name    TEXT,
    conversation_key TEXT    NOT NULL,
    reply_to         TEXT    NOT NULL,
    text             TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    handled_at       INTEGER,
    UNIQUE (channel, external_id)
) STRICT;
CREATE INDEX inbox_unhandled ON inbox (id) WHERE handled_at IS NULL;

CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    line_id         INTEGER NOT NULL REFERENCES transcript_lines (id),
    author          TEXT    NOT NULL,
    author_name     TEXT,
    text            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;
-- The head (oldest pending row) of each conversation, and the pending rows by due time.
CREATE INDEX outbox_pending ON outbox (status, conversation_id, id);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    subject_id  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    fired_at    INTEGER
) STRICT;
CREATE INDEX timers_due ON timers (due_at, id) WHERE fired_at IS NULL;
CREATE INDEX timers_subject ON timers (kind, subject_id);
