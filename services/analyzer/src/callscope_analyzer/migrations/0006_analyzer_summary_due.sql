-- depends: 0005_analyzer_rule_overrides
-- The call summary waits until the call's transcripts have caught up (no new final for a
-- quiet period after CallEnded, at most a maximum wait): finals of a live transcriber lag the
-- call. Pending summaries survive a restart; a final after the summary asks for a new one.
ALTER TABLE analyzer.calls
    ADD COLUMN summary_due_at timestamptz,
    ADD COLUMN summarized_at  timestamptz;
CREATE INDEX calls_summary_due ON analyzer.calls (summary_due_at) WHERE summarized_at IS NULL;
