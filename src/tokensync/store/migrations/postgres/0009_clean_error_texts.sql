-- tokensync schema 9: the error texts an earlier version stored are cleaned. Earlier versions
-- kept a provider's error code word for word and its description masked only in its raw
-- spelling (and cut before the masking), so a stored message or code may hold a secret the
-- provider echoed. A migration cannot know the secrets (they are encrypted, or configured
-- elsewhere), so every stored message is replaced by a note (the next attempt writes a new,
-- redacted one), and a code is kept only when it is shaped like a word of OAuth or of ours:
-- lowercase letters, digits and `_.-`, at most 64 characters, no run of 13 letters and digits
-- (a token's shape); any other becomes provider_error. Events keep their other fields; runs
-- keep their counts.
UPDATE connections SET last_error_message =
    'the message an earlier version stored was removed (it could hold what a provider echoed); '
    || 'the next attempt records a new one'
WHERE last_error_message IS NOT NULL;
UPDATE connections SET last_error_code = 'provider_error'
WHERE last_error_code IS NOT NULL
  AND (last_error_code !~ '^[a-z0-9_.-]{1,64}$' OR last_error_code ~ '[a-z0-9]{13}');
UPDATE sync_state SET last_error_code = 'provider_error'
WHERE last_error_code IS NOT NULL
  AND (last_error_code !~ '^[a-z0-9_.-]{1,64}$' OR last_error_code ~ '[a-z0-9]{13}');
UPDATE events SET data = jsonb_set(data, '{error,message}', to_jsonb(
    'the message an earlier version stored was removed (it could hold what a provider echoed)'::text))
WHERE jsonb_typeof(data #> '{error,message}') IS NOT NULL;
UPDATE events SET data = jsonb_set(data, '{error,code}', '"provider_error"')
WHERE jsonb_typeof(data #> '{error,code}') = 'string'
  AND (data #>> '{error,code}' !~ '^[a-z0-9_.-]{1,64}$' OR data #>> '{error,code}' ~ '[a-z0-9]{13}');
UPDATE runs SET summary = jsonb_set(summary, '{error,message}', to_jsonb(
    'the message an earlier version stored was removed (it could hold what a provider echoed)'::text))
WHERE jsonb_typeof(summary #> '{error,message}') IS NOT NULL;
