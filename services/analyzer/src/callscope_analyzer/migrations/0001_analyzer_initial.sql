-- depends:
CREATE SCHEMA IF NOT EXISTS analyzer;

CREATE TABLE analyzer.calls (
    call_id    text PRIMARY KEY,
    queue      text NOT NULL DEFAULT '',
    agent_id   text NOT NULL DEFAULT '',
    language   text NOT NULL DEFAULT '',
    started_at timestamptz,
    ended_at   timestamptz
);

-- One row per analysed final utterance; the natural key makes redelivery harmless.
CREATE TABLE analyzer.utterances (
    call_id          text NOT NULL,
    channel          text NOT NULL,
    utterance_no     bigint NOT NULL,
    version          integer NOT NULL,
    text             text NOT NULL,
    language         text NOT NULL,
    start_ms         bigint NOT NULL,
    end_ms           bigint NOT NULL,
    sentiment_score  real NOT NULL,
    sentiment_label  text NOT NULL,
    human_requests   text[] NOT NULL DEFAULT '{}',
    analyzed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, channel, utterance_no, version)
);

CREATE TABLE analyzer.alerts (
    alert_id        text PRIMARY KEY,
    call_id         text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL,
    reason          text NOT NULL,
    evidence        jsonb NOT NULL,
    at_ms           bigint NOT NULL,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    acknowledged_by text,
    acknowledged_at timestamptz
);

CREATE INDEX alerts_call ON analyzer.alerts (call_id);
