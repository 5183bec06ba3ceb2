-- The platform seam: structured output, the agents' side on chat platforms, platform agents.

-- Buttons a message offers (JSON list of {label, value}); NULL when it offers none.
ALTER TABLE transcript_lines ADD COLUMN choices TEXT;
ALTER TABLE outbox ADD COLUMN choices TEXT;
-- 'customer': to the conversation's channel; 'desk': a ticket event for the agents' platform.
-- Each lane of a conversation keeps its own order, so a failing desk never holds up customers.
ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT 'customer';
-- For the desk lane: the ticket and the event (JSON, see core::desk_event).
ALTER TABLE outbox ADD COLUMN ticket_id BIGINT;
ALTER TABLE outbox ADD COLUMN event TEXT;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (status, conversation_id, lane, id);

-- 'customer' or 'agent' (an agent writing in a ticket thread, or pressing a card button).
ALTER TABLE inbox ADD COLUMN sender TEXT NOT NULL DEFAULT 'customer';
CREATE INDEX inbox_key ON inbox (channel, conversation_key, id);

-- Agents known by a platform identity (a Discord member with the agent role, a Slack user in
-- agent_ids): no token, shown by their platform name, which need not be unique.
ALTER TABLE agents ADD COLUMN platform TEXT;
ALTER TABLE agents ADD COLUMN platform_user_id TEXT;
DROP INDEX agents_active_name;
CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE removed_at IS NULL AND platform IS NULL;
CREATE UNIQUE INDEX agents_platform_identity ON agents (platform, platform_user_id) WHERE platform IS NOT NULL;

-- A ticket's card on a desk platform: the card message, and the thread where its conversation runs.
CREATE TABLE desk_cards (
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    platform   TEXT NOT NULL,
    card_ref   TEXT NOT NULL,
    thread_ref TEXT NOT NULL,
    PRIMARY KEY (ticket_id, platform)
);
CREATE INDEX desk_cards_thread ON desk_cards (platform, thread_ref);
