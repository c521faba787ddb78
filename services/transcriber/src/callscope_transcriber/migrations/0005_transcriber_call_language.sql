-- depends: 0004_transcriber_live_progress
-- The call's language from routing (CallStarted.language): the post-call pass decodes in it
-- instead of detecting it per utterance.
ALTER TABLE transcriber.calls ADD COLUMN language text NOT NULL DEFAULT '';
