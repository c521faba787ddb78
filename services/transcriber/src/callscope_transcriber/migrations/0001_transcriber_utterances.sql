-- depends:
CREATE SCHEMA IF NOT EXISTS transcriber;

-- Finals only; keyed by the natural key of TranscriptSegment so redelivery is harmless.
CREATE TABLE transcriber.utterances (
    call_id       text NOT NULL,
    channel       text NOT NULL,
    utterance_no  bigint NOT NULL,
    version       integer NOT NULL,
    text          text NOT NULL,
    language      text NOT NULL,
    confidence    real NOT NULL,
    start_ms      bigint NOT NULL,
    end_ms        bigint NOT NULL,
    words         jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    text_search   tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    PRIMARY KEY (call_id, channel, utterance_no, version)
);

CREATE INDEX utterances_text_search ON transcriber.utterances USING gin (text_search);
