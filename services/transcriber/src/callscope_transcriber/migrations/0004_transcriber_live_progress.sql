-- depends: 0003_transcriber_fts_language
-- Restart safety of the live path. A final is written with published = false, published on
-- Kafka, then marked; finals still unpublished after a crash are published again at start-up.
-- Rows from before this migration were published already.
ALTER TABLE transcriber.utterances ADD COLUMN published boolean NOT NULL DEFAULT true;
CREATE INDEX utterances_unpublished ON transcriber.utterances (call_id)
    WHERE NOT published;

-- Where each live channel stands, written in the same transaction as each of its finals: after
-- a restart the redelivered audio before resume_from_ms is skipped (it is in a stored final)
-- and numbering goes on from next_utterance_no, so there is neither a duplicate nor a gap.
CREATE TABLE transcriber.live_channels (
    call_id            text NOT NULL,
    channel            text NOT NULL,
    next_utterance_no  bigint NOT NULL DEFAULT 0,
    resume_from_ms     bigint NOT NULL DEFAULT 0,
    language           text NOT NULL DEFAULT '',
    ended              boolean NOT NULL DEFAULT false,   -- its last segment was handled
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, channel)
);

-- Calls handed to the post-call path (degraded live transcription) and post-call progress.
CREATE TABLE transcriber.calls (
    call_id          text PRIMARY KEY,
    deferred_at      timestamptz,            -- live transcription deferred (back-pressure)
    deferred_reason  text NOT NULL DEFAULT '',
    postcall_state   text NOT NULL DEFAULT 'pending',  -- pending | done | failed
    postcall_detail  text NOT NULL DEFAULT '',
    postcall_at      timestamptz
);
