-- depends: 0003_analyzer_rules_summary
-- What supervisors see of a call (CallOverview) and search on: the customer's number from
-- CallStarted, the call's length from CallEnded, and the live overall customer sentiment and
-- categories, kept up to date after every analysed utterance.
ALTER TABLE analyzer.calls
    ADD COLUMN customer_number           text NOT NULL DEFAULT '',
    ADD COLUMN duration_ms               bigint,
    ADD COLUMN customer_sentiment_score  real,
    ADD COLUMN customer_sentiment_label  text NOT NULL DEFAULT 'neutral',
    ADD COLUMN categories                text[] NOT NULL DEFAULT '{}';

CREATE INDEX calls_started_at ON analyzer.calls (started_at DESC);
CREATE INDEX calls_live ON analyzer.calls (queue) WHERE ended_at IS NULL;
CREATE INDEX alerts_open ON analyzer.alerts (call_id) WHERE acknowledged_at IS NULL;
