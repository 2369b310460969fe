-- Per-sender rate limits (policy.sender_flood) count a sender's recent
-- messages on every ingest: an index, so a flood does not scan the archive.
CREATE INDEX posts_sender ON posts (community_id, from_addr, received_at);
