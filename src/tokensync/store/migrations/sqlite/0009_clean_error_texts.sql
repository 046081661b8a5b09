-- tokensync schema 9 (SQLite): the error texts an earlier version stored are cleaned (see the
-- PostgreSQL migration of the same number for why each statement is what it is).
UPDATE connections SET last_error_message =
    'the message an earlier version stored was removed (it could hold what a provider echoed); '
    || 'the next attempt records a new one'
WHERE last_error_message IS NOT NULL;
UPDATE connections SET last_error_code = 'provider_error'
WHERE last_error_code IS NOT NULL AND (length(last_error_code) NOT BETWEEN 1 AND 64
    OR last_error_code GLOB '*[^a-z0-9_.-]*' OR last_error_code GLOB '*[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]*');
UPDATE sync_state SET last_error_code = 'provider_error'
WHERE last_error_code IS NOT NULL AND (length(last_error_code) NOT BETWEEN 1 AND 64
    OR last_error_code GLOB '*[^a-z0-9_.-]*' OR last_error_code GLOB '*[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]*');
UPDATE events SET data = json_set(data, '$.error.message',
    'the message an earlier version stored was removed (it could hold what a provider echoed)')
WHERE json_type(data, '$.error.message') IS NOT NULL;
UPDATE events SET data = json_set(data, '$.error.code', 'provider_error')
WHERE json_type(data, '$.error.code') = 'text' AND (
    length(json_extract(data, '$.error.code')) NOT BETWEEN 1 AND 64
    OR json_extract(data, '$.error.code') GLOB '*[^a-z0-9_.-]*'
    OR json_extract(data, '$.error.code') GLOB '*[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]*');
UPDATE runs SET summary = json_set(summary, '$.error.message',
    'the message an earlier version stored was removed (it could hold what a provider echoed)')
WHERE summary IS NOT NULL AND json_type(summary, '$.error.message') IS NOT NULL;
