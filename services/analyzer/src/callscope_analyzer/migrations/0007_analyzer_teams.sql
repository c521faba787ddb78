-- depends: 0006_analyzer_summary_due
-- The team directory behind WatchFloor(team): a team's queues and agents, set with
-- `callscope teams set`; read when a floor stream opens.
CREATE TABLE analyzer.teams (
    team       text PRIMARY KEY,
    queues     text[] NOT NULL DEFAULT '{}',
    agents     text[] NOT NULL DEFAULT '{}',
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
