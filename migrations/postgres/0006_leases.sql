-- Leases: a platform connection (the Discord gateway, a Slack Socket Mode connection) is held by
-- one instance at a time. The holder renews its lease well before `expires_at` (epoch ms, wall
-- clock); once it has passed, another instance may take the lease over.
-- migrations/sqlite/0006_leases.sql holds the same changes.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
