-- Customers' data rights and the web chat on real sites (issue 12).
-- migrations/sqlite/0005_privacy.sql holds the same changes.

-- Identities of one person: every customers row with the same person_id (or, when it is NULL,
-- the row's own id) is one person, so export and forget cover a web login, a Discord user and a
-- Slack user once they are linked. An e-mail given through signed identity is kept here too.
ALTER TABLE customers ADD COLUMN person_id BIGINT;
ALTER TABLE customers ADD COLUMN email TEXT;
CREATE INDEX customers_person ON customers (person_id) WHERE person_id IS NOT NULL;
-- Web sessions by customer, for export, forget and retention.
CREATE INDEX web_sessions_customer ON web_sessions (customer_id);
CREATE INDEX conversations_customer ON conversations (customer_id);

-- Admin agents may export and erase customers' data through the API.
ALTER TABLE agents ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;

-- Set when retention removed a conversation's text (the row stays while a ticket needs it).
ALTER TABLE conversations ADD COLUMN expired_at BIGINT;

-- What the bot did with customer messages whose text was removed (retention or erasure), so the
-- report's counts for past days stay: one row per removed line, no text, no customer.
CREATE TABLE removed_line_outcomes (
    at      BIGINT  NOT NULL,
    outcome TEXT    NOT NULL
);
CREATE INDEX removed_line_outcomes_at ON removed_line_outcomes (at);
