-- Up to {per_account} prompts per account (all of them for smaller accounts), chosen in the order of
-- md5(request_id): the same choice in DuckDB and Spark, whatever the row order of the input.
-- dup = 1 where the same prompt text is among the account's chosen prompts before (in that order):
-- benchmarks are re-run, campaigns pay for coverage.
SELECT account_id, rn, prompt,
  CASE WHEN row_number() OVER (PARTITION BY account_id, md5(prompt) ORDER BY rn) > 1 THEN 1 ELSE 0 END AS dup
FROM (
  SELECT account_id, prompt,
    row_number() OVER (PARTITION BY account_id ORDER BY md5(request_id), request_id, prompt) AS rn
  FROM valid) x
WHERE rn <= {per_account}
