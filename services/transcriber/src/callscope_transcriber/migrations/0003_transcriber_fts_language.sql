-- depends: 0002_transcriber_purge_log
-- Full-text search per utterance language: English, French and Russian use their stemming
-- configurations; Chinese (and any other language) uses 'simple'. Chinese is written without
-- spaces, so the default parser sees a whole clause as one token and a two-character query
-- would never match: runs of CJK ideographs are indexed as overlapping character bigrams
-- (the approach of Lucene's CJK analyzer), and queries are turned into phrases of the same
-- bigrams (transcriber.cjk_bigrams(query, true)), so any substring of two or more characters
-- matches, with no dictionary to keep up to date.

CREATE FUNCTION transcriber.search_config(language text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE split_part(lower(language), '-', 1)
    WHEN 'en' THEN 'english'::regconfig
    WHEN 'fr' THEN 'french'::regconfig
    WHEN 'ru' THEN 'russian'::regconfig
    ELSE 'simple'::regconfig
END
$$;

-- Each run of CJK ideographs becomes its bigrams separated by spaces (a one-character run stays
-- as it is); everything else is copied. With quote_runs, each run's bigrams are put between
-- double quotes, which websearch_to_tsquery reads as a phrase (bigram <-> bigram <-> ...).
CREATE FUNCTION transcriber.cjk_bigrams(body text, quote_runs boolean DEFAULT false)
    RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    result text := '';
    run text := '';
    grams text;
    ch text;
BEGIN
    FOR i IN 1 .. char_length(body) + 1 LOOP
        ch := substr(body, i, 1);
        IF ch <> '' AND ch ~ '[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]' THEN
            run := run || ch;
            CONTINUE;
        END IF;
        IF run <> '' THEN
            IF char_length(run) = 1 THEN
                grams := run;
            ELSE
                SELECT string_agg(substr(run, k, 2), ' ' ORDER BY k) INTO grams
                    FROM generate_series(1, char_length(run) - 1) AS k;
            END IF;
            IF quote_runs THEN
                grams := '"' || grams || '"';
            END IF;
            result := result || ' ' || grams || ' ';
            run := '';
        END IF;
        result := result || ch;
    END LOOP;
    RETURN result;
END
$$;

CREATE FUNCTION transcriber.search_document(language text, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT to_tsvector(
    transcriber.search_config(language),
    CASE WHEN split_part(lower(language), '-', 1) = 'zh'
        THEN transcriber.cjk_bigrams(body) ELSE body END
)
$$;

DROP INDEX transcriber.utterances_text_search;
ALTER TABLE transcriber.utterances DROP COLUMN text_search;
ALTER TABLE transcriber.utterances ADD COLUMN text_search tsvector
    GENERATED ALWAYS AS (transcriber.search_document(language, text)) STORED;
CREATE INDEX utterances_text_search ON transcriber.utterances USING gin (text_search);
-- The authoritative version of a call is its highest one: found from here, not a full scan.
CREATE INDEX utterances_call_version ON transcriber.utterances (call_id, version);
