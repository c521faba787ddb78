-- depends: 0002_recorder_purge_log
-- Recording policy per tenant and queue (queue '' = the tenant's default), edited through
-- Recorder.SetRecordingPolicy and `callscope recorder policy set`; every change bumps version.
CREATE TABLE recorder.recording_policies (
    tenant               text NOT NULL,
    queue                text NOT NULL DEFAULT '',
    mode                 text NOT NULL CHECK (mode IN ('all', 'percentage', 'on_demand')),
    percentage           double precision NOT NULL DEFAULT 100
                         CHECK (percentage >= 0 AND percentage <= 100),
    opt_out_decision     text NOT NULL DEFAULT 'stop'
                         CHECK (opt_out_decision IN ('stop', 'proof_only')),
    purposes             text[] NOT NULL DEFAULT '{quality,analytics}',
    proof_retention_days integer NOT NULL DEFAULT 365
                         CHECK (proof_retention_days BETWEEN 1 AND 36500),
    updated_by           text NOT NULL DEFAULT '',
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant, queue)
);

-- What the call's recording became: the policy mode applied, whether audio was kept from the
-- start, gaps (paused/discarded/not recording), proof-only, the encryption applied, and when
-- CallEnded/RecordingStored went out (a spool recovery never announces a call twice).
ALTER TABLE recorder.calls
    ADD COLUMN recording_mode      text NOT NULL DEFAULT 'all',
    ADD COLUMN recorded_from_start boolean NOT NULL DEFAULT true,
    ADD COLUMN gaps                jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN proof_only          boolean NOT NULL DEFAULT false,
    ADD COLUMN encryption          text NOT NULL DEFAULT '',
    ADD COLUMN announced_at        timestamptz;
