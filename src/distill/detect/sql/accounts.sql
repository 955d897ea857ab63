-- Per-account behaviour: volume, spread over IPs/blocks/payments/agents, hours, token ratio.
SELECT
  account_id,
  count(*) AS n_req,
  min(t) AS first_t,
  max(t) AS last_t,
  count(DISTINCT ip) AS n_ips,
  count(DISTINCT ip_block) AS n_blocks,
  count(DISTINCT payment_id) AS n_payments,
  count(DISTINCT user_agent) AS n_uas,
  count(DISTINCT model) AS n_models,
  count(DISTINCT floor(t / 86400)) AS n_days,
  count(DISTINCT pmod(floor(t / 3600), 24)) AS n_hours,
  avg(CAST(prompt_tokens AS DOUBLE)) AS avg_prompt_tokens,
  avg(CAST(completion_tokens AS DOUBLE)) AS avg_completion_tokens
FROM events
GROUP BY account_id
