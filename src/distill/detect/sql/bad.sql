-- Records that fail validation, with the first reason and where they are.
SELECT _file, _line, reason FROM (
  SELECT _file, _line,
    CASE
      WHEN NOT ts_given THEN 'missing ts'
      WHEN ts IS NULL THEN 'bad ts'
      WHEN ts < TIMESTAMP '1970-01-01 00:00:00' OR ts >= TIMESTAMP '2100-01-01 00:00:00' THEN 'ts out of range'
      WHEN account_id IS NULL OR account_id = '' THEN 'missing account_id'
      WHEN request_id IS NULL THEN 'missing request_id'
      WHEN ip IS NULL OR ip = '' THEN 'missing ip'
      WHEN model IS NULL THEN 'missing model'
      WHEN prompt IS NULL THEN 'missing prompt'
      WHEN try_cast(prompt_tokens AS BIGINT) IS NULL THEN 'bad prompt_tokens'
      WHEN try_cast(completion_tokens AS BIGINT) IS NULL THEN 'bad completion_tokens'
      WHEN try_cast(prompt_tokens AS BIGINT) < 0 OR try_cast(completion_tokens AS BIGINT) < 0
        THEN 'negative token count'
    END AS reason
  FROM raw) x
WHERE reason IS NOT NULL
