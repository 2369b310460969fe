-- 0001: the first schema. Never edit a landed migration; add a new file.
-- Times are INTEGER seconds since the Unix epoch, UTC.

CREATE TABLE communities (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    -- volume of the digest now accruing; bumps yearly or by command
    digest_volume INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE members (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    email         TEXT NOT NULL COLLATE NOCASE,
    name          TEXT NOT NULL DEFAULT '',
    organisation  TEXT NOT NULL DEFAULT '',
    place         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL DEFAULT 'member'
                  CHECK (role IN ('member', 'moderator', 'owner')),
    delivery      TEXT NOT NULL DEFAULT 'each'
                  CHECK (delivery IN ('each', 'digest', 'consolidated', 'none')),
    digest_format TEXT NOT NULL DEFAULT 'mime'
                  CHECK (digest_format IN ('mime', 'plain', 'html')),
    moderation    TEXT NOT NULL DEFAULT 'default'
                  CHECK (moderation IN ('default', 'hold', 'accept', 'reject', 'discard')),
    status        TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('pending', 'active', 'unsubscribed', 'disabled')),
    joined_at     INTEGER NOT NULL,
    -- approved posts so far: 0 means the next post is a first post
    posts_approved INTEGER NOT NULL DEFAULT 0,
    bounce_score  REAL NOT NULL DEFAULT 0,
    last_bounce_at INTEGER,
    UNIQUE (community_id, email)
);

CREATE TABLE threads (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    root_post_id  INTEGER,          -- set once the root post is stored
    subject       TEXT NOT NULL DEFAULT '',
    base_subject  TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL DEFAULT 'discussion'
                  CHECK (kind IN ('query', 'discussion', 'announcement')),
    state         TEXT NOT NULL DEFAULT 'open'
                  CHECK (state IN ('open', 'drafting', 'published')),
    first_at      INTEGER NOT NULL,
    last_at       INTEGER NOT NULL,
    deadline_at   INTEGER,          -- queries only: the Consolidated Reply is due
    late_responses INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX threads_community_last ON threads (community_id, last_at);
CREATE INDEX threads_base_subject ON threads (community_id, base_subject, last_at);

CREATE TABLE posts (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL,    -- synthetic and stable when the message has none
    sha256        BLOB NOT NULL,
    raw           BLOB NOT NULL,    -- the bytes as received, verbatim
    size          INTEGER NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('imap', 'lmtp', 'pipe', 'import')),
    envelope_to   TEXT,             -- Delivered-To / X-Original-To / RCPT TO
    received_at   INTEGER NOT NULL,
    class         TEXT NOT NULL
                  CHECK (class IN ('post', 'command', 'bounce', 'auto_reply', 'loop', 'unparseable')),
    state         TEXT NOT NULL
                  CHECK (state IN ('held', 'approved', 'rejected', 'discarded', 'handled')),
    -- parsed fields: derived from raw, can be rebuilt
    from_addr     TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    from_name     TEXT NOT NULL DEFAULT '',
    subject       TEXT NOT NULL DEFAULT '',
    date          INTEGER,          -- the Date header; received_at when missing or bad
    in_reply_to   TEXT,
    refs          TEXT NOT NULL DEFAULT '[]',  -- JSON array of Message-IDs, oldest first
    list_id       TEXT,
    text          TEXT NOT NULL DEFAULT '',
    attachments   TEXT NOT NULL DEFAULT '[]',  -- JSON [{name, content_type, size}]
    member_id     INTEGER REFERENCES members(id) ON DELETE SET NULL,
    thread_id     INTEGER REFERENCES threads(id) ON DELETE SET NULL,
    parent_id     INTEGER REFERENCES posts(id) ON DELETE SET NULL,
    approved_at   INTEGER,
    UNIQUE (community_id, message_id)
);
CREATE INDEX posts_sha ON posts (community_id, sha256);
CREATE INDEX posts_thread ON posts (thread_id, date);
CREATE INDEX posts_state ON posts (community_id, state, received_at);
CREATE INDEX posts_approved ON posts (community_id, approved_at) WHERE approved_at IS NOT NULL;

CREATE VIRTUAL TABLE posts_fts USING fts5 (
    subject, text, content = 'posts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF subject, text ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
    INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;

-- a post waiting for (or once waiting for) a moderator
CREATE TABLE holds (
    post_id       INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    reason        TEXT NOT NULL,    -- in a moderator's words: "nonmember", "first post", ...
    held_at       INTEGER NOT NULL,
    deferred_until INTEGER,
    decided_at    INTEGER,          -- NULL while pending
    acknowledged_at INTEGER         -- when the author was told it awaits moderation
);
CREATE INDEX holds_pending ON holds (community_id, held_at) WHERE decided_at IS NULL;

-- the audit log: every moderator decision and membership change
CREATE TABLE decisions (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    post_id       INTEGER REFERENCES posts(id) ON DELETE SET NULL,
    actor         TEXT NOT NULL,    -- who: a moderator's name or "system"
    action        TEXT NOT NULL,    -- what: approve, reject, discard, defer, member-add, ...
    reason        TEXT,             -- why
    detail        TEXT,             -- what it touched, e.g. the member's address
    at            INTEGER NOT NULL
);
CREATE INDEX decisions_community_at ON decisions (community_id, at);

CREATE TABLE consolidated_replies (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    addendum_to   INTEGER REFERENCES consolidated_replies(id),
    state         TEXT NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'scheduled', 'published')),
    subject       TEXT NOT NULL DEFAULT '',
    publish_at    INTEGER,
    published_at  INTEGER,
    message_id    TEXT,             -- of the published mail
    created_at    INTEGER NOT NULL
);
CREATE INDEX consolidated_replies_thread ON consolidated_replies (thread_id);

CREATE TABLE draft_versions (
    id            INTEGER PRIMARY KEY,
    reply_id      INTEGER NOT NULL REFERENCES consolidated_replies(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    body          TEXT NOT NULL,    -- Markdown
    author        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (reply_id, version)
);

CREATE VIRTUAL TABLE consolidated_fts USING fts5 (
    subject, body, tokenize = 'unicode61 remove_diacritics 2'
);  -- rowid = consolidated_replies.id, filled on publish

CREATE TABLE digests (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    volume        INTEGER NOT NULL,
    number        INTEGER NOT NULL,
    due_at        INTEGER,
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    UNIQUE (community_id, volume, number)
);

CREATE TABLE digest_posts (
    digest_id     INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
    post_id       INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    PRIMARY KEY (digest_id, post_id)
);
CREATE INDEX digest_posts_post ON digest_posts (post_id);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER REFERENCES communities(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('post', 'consolidated_reply', 'digest', 'notice')),
    subject       TEXT NOT NULL DEFAULT '',
    message       BLOB NOT NULL,    -- the rendered message, before per-recipient personalisation
    post_id       INTEGER REFERENCES posts(id) ON DELETE SET NULL,
    reply_id      INTEGER REFERENCES consolidated_replies(id) ON DELETE SET NULL,
    digest_id     INTEGER REFERENCES digests(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    not_before    INTEGER           -- scheduled sends
);

CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    outbox_id     INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    member_id     INTEGER REFERENCES members(id) ON DELETE SET NULL,
    recipient     TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sent', 'temp_failed', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error    TEXT,
    sent_at       INTEGER,
    UNIQUE (outbox_id, recipient)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'temp_failed');
CREATE INDEX deliveries_outbox_state ON deliveries (outbox_id, state);

-- where each IMAP watcher is: written in the same transaction as the posts it read
CREATE TABLE imap_checkpoints (
    community_id  INTEGER PRIMARY KEY REFERENCES communities(id) ON DELETE CASCADE,
    folder        TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    last_uid      INTEGER NOT NULL,
    last_sync_at  INTEGER
);

-- what the daemon reports about itself, for `praxis status`
CREATE TABLE daemon_health (
    key           TEXT PRIMARY KEY,  -- "daemon" or "imap:<slug>"
    state         TEXT NOT NULL,     -- running, connected, idle, failing, stopped
    detail        TEXT,
    pid           INTEGER,
    updated_at    INTEGER NOT NULL
);
