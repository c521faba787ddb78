-- depends: 0002_analyzer_purge_log
-- What the rule engine and the call summary need per utterance, alert keys for cool-downs,
-- holds and summaries.
ALTER TABLE analyzer.utterances
    ADD COLUMN word_count integer,
    ADD COLUMN rms_dbfs real,
    ADD COLUMN keywords jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN categories text[] NOT NULL DEFAULT '{}',
    ADD COLUMN sentiment_confidence real;

ALTER TABLE analyzer.alerts ADD COLUMN alert_key text;
CREATE UNIQUE INDEX alerts_call_alert_key ON analyzer.alerts (call_id, alert_key)
    WHERE alert_key IS NOT NULL;

CREATE TABLE analyzer.summaries (
    call_id    text NOT NULL,
    version    integer NOT NULL,
    summary    jsonb NOT NULL,
    qa_score   real,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, version)
);
