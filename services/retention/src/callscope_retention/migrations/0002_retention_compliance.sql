-- depends: 0001_retention_recordings

-- Calls and who took part, learnt from CallStarted / ParticipantJoined (never from the
-- recorder's tables): what erasure requests and customer/agent/date holds are matched on.
CREATE TABLE retention.calls (
    call_id       text PRIMARY KEY,
    tenant        text NOT NULL DEFAULT '',
    queue         text NOT NULL DEFAULT '',
    agent_key     text NOT NULL DEFAULT '',
    started_at    timestamptz,
    registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_agent ON retention.calls (agent_key) WHERE agent_key <> '';
CREATE INDEX calls_started_at ON retention.calls (started_at);

CREATE TABLE retention.call_parties (
    call_id   text NOT NULL,
    party_key text NOT NULL,       -- normalized phone number / AOR; 'sha256:…' once erased
    aor       text NOT NULL DEFAULT '',
    role      text NOT NULL,       -- customer | agent | unknown
    PRIMARY KEY (call_id, party_key)
);
CREATE INDEX call_parties_key ON retention.call_parties (party_key);

-- Recording state and the Object Lock retention wants (proof, holds) vs what the recorder confirmed.
ALTER TABLE retention.recordings
    ADD COLUMN state           text NOT NULL DEFAULT 'live',    -- live | purged
    ADD COLUMN purged_at       timestamptz,
    ADD COLUMN lock_wanted     timestamptz,
    ADD COLUMN hold_wanted     boolean NOT NULL DEFAULT false,
    ADD COLUMN lock_confirmed  timestamptz,
    ADD COLUMN hold_confirmed  boolean NOT NULL DEFAULT false,
    ADD COLUMN lock_supported  boolean,                         -- null: not known yet
    ADD COLUMN protect_pending boolean NOT NULL DEFAULT false,
    ADD COLUMN protect_sent_at timestamptz,
    ADD COLUMN protect_detail  text NOT NULL DEFAULT '';
CREATE INDEX recordings_protect_pending ON retention.recordings (call_id) WHERE protect_pending;

-- A purpose's use can end before its period (an erasure request ends every purpose that is
-- not a legal obligation).
ALTER TABLE retention.purpose_windows ADD COLUMN ended_at timestamptz;

-- One row per call and data kind: the unit a purge deletes and a service confirms.
CREATE TABLE retention.data_items (
    call_id    text NOT NULL REFERENCES retention.recordings (call_id) ON DELETE CASCADE,
    data_kind  text NOT NULL,      -- recording | transcript | analysis
    service    text NOT NULL,      -- recorder | transcriber | analyzer
    expires_at timestamptz NOT NULL,
    state      text NOT NULL DEFAULT 'live',   -- live | purging | purged
    request_id text,
    purged_at  timestamptz,
    PRIMARY KEY (call_id, data_kind)
);
-- In the purge's order, so a batch is read off the index and stops at its LIMIT.
CREATE INDEX data_items_due ON retention.data_items (expires_at, call_id, data_kind)
    WHERE state = 'live';

-- Recordings registered before this migration: every kind expires with the recording.
INSERT INTO retention.data_items (call_id, data_kind, service, expires_at)
SELECT r.call_id, k.kind, k.service, r.expires_at
FROM retention.recordings r
CROSS JOIN (VALUES ('recording', 'recorder'), ('transcript', 'transcriber'),
                   ('analysis', 'analyzer')) AS k (kind, service);

CREATE TABLE retention.policy_versions (
    version    integer PRIMARY KEY,
    document   text NOT NULL,      -- canonical JSON of the policy set
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    comment    text NOT NULL DEFAULT ''
);

CREATE TABLE retention.holds (
    hold_id        text PRIMARY KEY,
    scope          text NOT NULL CHECK (scope IN ('call', 'customer', 'agent', 'range')),
    subject_key    text NOT NULL DEFAULT '',
    range_from     timestamptz,
    range_to       timestamptz,
    tenant         text NOT NULL DEFAULT '',
    reason         text NOT NULL CHECK (reason <> ''),
    placed_by      text NOT NULL CHECK (placed_by <> ''),
    placed_at      timestamptz NOT NULL,
    released_at    timestamptz,
    released_by    text,
    release_reason text,
    CHECK (scope <> 'range' OR (range_from IS NOT NULL AND range_to IS NOT NULL
                                AND range_from < range_to))
);
-- Two active holds on the same thing conflict.
CREATE UNIQUE INDEX holds_one_active ON retention.holds
    (scope, subject_key, coalesce(range_from, '-infinity'), coalesce(range_to, 'infinity'), tenant)
    WHERE released_at IS NULL;

-- Which registered calls each hold covers (active or released: filter on released_at).
CREATE VIEW retention.hold_coverage AS
    SELECT h.hold_id, h.released_at, r.call_id
    FROM retention.holds h JOIN retention.recordings r ON r.call_id = h.subject_key
    WHERE h.scope = 'call'
    UNION ALL
    SELECT h.hold_id, h.released_at, p.call_id
    FROM retention.holds h JOIN retention.call_parties p ON p.party_key = h.subject_key
    WHERE h.scope = 'customer'
    UNION ALL
    SELECT h.hold_id, h.released_at, c.call_id
    FROM retention.holds h JOIN retention.calls c ON c.agent_key = h.subject_key
    WHERE h.scope = 'agent'
    UNION ALL
    SELECT h.hold_id, h.released_at, r.call_id
    FROM retention.holds h
    JOIN retention.recordings r ON (h.tenant = '' OR h.tenant = r.tenant)
    LEFT JOIN retention.calls c ON c.call_id = r.call_id
    WHERE h.scope = 'range'
      AND coalesce(c.started_at, r.stored_at) >= h.range_from
      AND coalesce(c.started_at, r.stored_at) < h.range_to;

CREATE TABLE retention.purge_runs (
    request_id   text PRIMARY KEY,
    kind         text NOT NULL,        -- schedule | manual | erasure
    requested_by text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    claimed      boolean NOT NULL DEFAULT false,   -- every item of the run is recorded
    finished_at  timestamptz,
    calls        bigint NOT NULL DEFAULT 0,
    items        bigint NOT NULL DEFAULT 0
);

-- One row per (request, call, service): sent until the service confirms.
CREATE TABLE retention.purge_items (
    request_id      text NOT NULL REFERENCES retention.purge_runs (request_id),
    call_id         text NOT NULL,
    service         text NOT NULL,
    data_kinds      text[] NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
        -- pending | sent | deleted | already_gone | refused_locked | failed | cancelled
    batch_id        text,
    attempts        integer NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    confirmed_at    timestamptz,
    objects_deleted bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    content_sha256  text NOT NULL DEFAULT '',
    detail          text NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, call_id, service)
);
CREATE INDEX purge_items_open ON retention.purge_items (request_id, sent_at)
    WHERE status IN ('pending', 'sent');
CREATE INDEX purge_items_call ON retention.purge_items (call_id);

CREATE TABLE retention.erasures (
    request_id    text PRIMARY KEY REFERENCES retention.purge_runs (request_id),
    subject_hash  text NOT NULL,
    requested_by  text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    requested_at  timestamptz NOT NULL,
    completed_at  timestamptz,
    report_json   text,               -- the sealed proof report (canonical JSON)
    report_sha256 text,
    audit_seq     bigint
);

CREATE TABLE retention.erasure_calls (
    request_id     text NOT NULL REFERENCES retention.erasures (request_id),
    call_id        text NOT NULL,
    erase_kinds    text[] NOT NULL,
    already_kinds  text[] NOT NULL,
    kept           text NOT NULL,     -- JSON: [{data_kind, reason, legal_basis, kept_until}]
    PRIMARY KEY (request_id, call_id)
);

-- Append-only, hash-chained access audit (domain/audit.py). The triggers refuse UPDATE,
-- DELETE and TRUNCATE; whoever gets around them is caught by `callscope retention audit verify`.
CREATE TABLE retention.audit_log (
    seq       bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    subject   text NOT NULL,
    details   text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL
);
CREATE INDEX audit_log_subject ON retention.audit_log (subject);

CREATE FUNCTION retention.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'retention.audit_log is append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON retention.audit_log
    FOR EACH ROW EXECUTE FUNCTION retention.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON retention.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION retention.audit_log_append_only();
