-- 0019: referrals, personal invitations to respond to a query sent to chosen
-- members (issue 18). One row per member and query: a member is invited to a
-- query once. Counted per member per month against the community's
-- `referrals_per_month`, and in `praxis stats` with the responses that
-- followed them.
CREATE TABLE referrals (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    member_id     INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    referred_by   TEXT NOT NULL,          -- the moderator, as the audit log names them
    why           TEXT NOT NULL DEFAULT '', -- the note the member reads: why they were asked
    at            INTEGER NOT NULL,
    UNIQUE (thread_id, member_id)
);
CREATE INDEX referrals_member_at ON referrals (member_id, at);
CREATE INDEX referrals_community_at ON referrals (community_id, at);

-- Members who asked for no invitations; absent means invitations are welcome.
CREATE TABLE referral_opt_outs (
    member_id     INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    at            INTEGER NOT NULL
);
