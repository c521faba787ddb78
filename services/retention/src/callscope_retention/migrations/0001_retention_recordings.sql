-- depends:
CREATE SCHEMA IF NOT EXISTS retention;

CREATE TABLE retention.recordings (
    call_id         text PRIMARY KEY,
    tenant          text NOT NULL,
    queue           text NOT NULL DEFAULT '',
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    duration_ms     bigint NOT NULL,
    purposes        text[] NOT NULL,
    policy_version  integer NOT NULL,
    stored_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    source_event_id text NOT NULL
);

CREATE INDEX recordings_expires_at ON retention.recordings (expires_at);

CREATE TABLE retention.purpose_windows (
    call_id    text NOT NULL REFERENCES retention.recordings (call_id) ON DELETE CASCADE,
    purpose    text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (call_id, purpose)
);
