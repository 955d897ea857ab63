-- Up to {per_account} prompts per account (all of them for smaller accounts), chosen in the order of
-- md5(request_id): the same choice in DuckDB and Spark, whatever the row order of the input.
SELECT account_id, rn, prompt FROM (
  SELECT account_id, prompt,
    row_number() OVER (PARTITION BY account_id ORDER BY md5(request_id), request_id, prompt) AS rn
  FROM valid) x
WHERE rn <= {per_account}
