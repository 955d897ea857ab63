-- One row per valid exchange, prompt text left out; IPv4 → /24 block, IPv6 → first three groups (/48).
SELECT
  account_id,
  request_id,
  unix_timestamp(ts) AS t,
  ip,
  CASE WHEN ip LIKE '%:%' THEN regexp_extract(lower(ip), '^([0-9a-f]*:[0-9a-f]*:[0-9a-f]*)', 1)
       ELSE regexp_extract(ip, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1) END AS ip_block,
  payment_id,
  user_agent,
  model,
  CASE WHEN system_prompt IS NULL OR system_prompt = '' THEN NULL
       ELSE substr(system_prompt, 1, 200) END AS system_key,
  CAST(prompt_tokens AS BIGINT) AS prompt_tokens,
  CAST(completion_tokens AS BIGINT) AS completion_tokens
FROM valid
