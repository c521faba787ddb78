-- depends:
CREATE SCHEMA IF NOT EXISTS recorder;

CREATE TABLE recorder.calls (
    call_id          text PRIMARY KEY,
    external_call_id text NOT NULL,
    source           text NOT NULL,
    tenant           text NOT NULL,
    queue            text NOT NULL DEFAULT '',
    language         text NOT NULL DEFAULT '',
    state            text NOT NULL,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    duration_ms      bigint,
    end_reason       text,
    participants     jsonb NOT NULL DEFAULT '[]',
    channel_labels   jsonb NOT NULL DEFAULT '{}',
    labels_source    text NOT NULL DEFAULT 'metadata',
    rs_metadata      text,
    bucket           text,
    object_key       text,
    sha256           text,
    size_bytes       bigint,
    media_stats      jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX calls_external ON recorder.calls (external_call_id);
CREATE INDEX calls_started_at ON recorder.calls (started_at);
