-- depends: 0004_analyzer_supervisor
-- Alert-rule overrides over data/alert_rules.yaml, set with `callscope rules set`; running
-- analyzers re-read them within CALLSCOPE_ANALYZER_RULES_RELOAD_S, no restart needed.
CREATE TABLE analyzer.rule_overrides (
    rule       text PRIMARY KEY,
    override   jsonb NOT NULL,   -- {enabled|severity|cooldown_ms|title|type: v, params: {..}}
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
