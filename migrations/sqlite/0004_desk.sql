-- The desk, part two: priorities, tags and service levels on tickets, blocked customers, and
-- inbound events that keep failing. migrations/sqlite/0004_desk.sql and
-- migrations/postgres/0004_desk.sql hold the same columns.

-- 'low', 'normal', 'high' or 'urgent'; the queue is sorted by it, then by age.
ALTER TABLE tickets ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
-- Lower-case labels agents put on a ticket (JSON list of strings).
ALTER TABLE tickets ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
-- When the first-reply target was missed (NULL: met, or not yet due).
ALTER TABLE tickets ADD COLUMN breached_at INTEGER;
-- Who closed it when it was not an agent: 'admin' (frontline tickets close) or 'followup'
-- (the customer did not answer); NULL when an agent did.
ALTER TABLE tickets ADD COLUMN closed_by TEXT;

-- A blocked customer gets one notice, then silence and no tickets; messages are still stored.
ALTER TABLE customers ADD COLUMN blocked_at INTEGER;
ALTER TABLE customers ADD COLUMN block_noticed_at INTEGER;

-- Handling attempts of an inbound event; after [inbox] max_attempts it is a dead letter
-- (dead_at set, and handled_at too so the sweep passes it by).
ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN dead_at INTEGER;
ALTER TABLE inbox ADD COLUMN last_error TEXT;
CREATE INDEX inbox_dead ON inbox (dead_at) WHERE dead_at IS NOT NULL;
