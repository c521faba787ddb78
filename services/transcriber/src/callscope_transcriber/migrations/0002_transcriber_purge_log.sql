-- depends: 0001_transcriber_utterances
-- Retention commands executed by the transcriber (callscope_core.purge): one row per executed
-- (request, call), written in the same transaction as the delete, so a redelivered command is
-- answered from here and nothing is deleted twice by mistake.
CREATE TABLE transcriber.purge_log (
    request_id      text NOT NULL,
    call_id         text NOT NULL,
    batch_id        text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    status          text NOT NULL,
    objects_deleted bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    content_sha256  text NOT NULL DEFAULT '',
    detail          text NOT NULL DEFAULT '',
    executed_at     timestamptz NOT NULL,
    PRIMARY KEY (request_id, call_id)
);

CREATE INDEX purge_log_call ON transcriber.purge_log (call_id);
