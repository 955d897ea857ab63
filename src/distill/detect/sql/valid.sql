-- Records that pass validation (a view: the prompts are read from here only for the sample).
SELECT * FROM raw
WHERE ts IS NOT NULL
  AND ts >= TIMESTAMP '1970-01-01 00:00:00' AND ts < TIMESTAMP '2100-01-01 00:00:00'
  AND account_id IS NOT NULL AND account_id <> ''
  AND request_id IS NOT NULL
  AND ip IS NOT NULL AND ip <> ''
  AND model IS NOT NULL
  AND prompt IS NOT NULL
  AND try_cast(prompt_tokens AS BIGINT) IS NOT NULL
  AND try_cast(completion_tokens AS BIGINT) IS NOT NULL
  AND try_cast(prompt_tokens AS BIGINT) >= 0 AND try_cast(completion_tokens AS BIGINT) >= 0
