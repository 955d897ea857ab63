-- Up to {per_window} prompts per (hour, model) window, chosen in the order of md5(request_id): the
-- same choice in DuckDB and Spark, whatever the row order of the input.
SELECT h, model, prompt FROM (
  SELECT floor(unix_timestamp(ts) / 3600) AS h, model, prompt,
    row_number() OVER (PARTITION BY floor(unix_timestamp(ts) / 3600), model
                       ORDER BY md5(request_id), request_id, prompt) AS rn
  FROM valid) x
WHERE rn <= {per_window}
