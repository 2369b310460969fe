-- 0003: delivery. Never edit a landed migration; add a new file.

-- The give-up clock: when this delivery first failed temporarily since it was
-- queued or re-queued. NULL while it has not failed.
ALTER TABLE deliveries ADD COLUMN first_failed_at INTEGER;

-- Finding a member's deliveries (bounces, probes).
CREATE INDEX deliveries_member ON deliveries (member_id);

-- A post fans out once, however often it is approved.
CREATE UNIQUE INDEX outbox_post_once ON outbox (post_id) WHERE kind = 'post';

-- 1: the member receives a copy of their own posts (the default); 0: they opted out.
ALTER TABLE members ADD COLUMN own_posts INTEGER NOT NULL DEFAULT 1 CHECK (own_posts IN (0, 1));

-- While a member is disabled for bouncing: the delivery of the probe sent to
-- them, until it is settled (re-enabled, or bounced and cleared).
ALTER TABLE members ADD COLUMN probe_delivery_id INTEGER REFERENCES deliveries(id) ON DELETE SET NULL;
