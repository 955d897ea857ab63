-- Per-account behaviour: volume, spread over IPs/blocks/payments/agents, hours, token ratio, and
-- rotation counted on the account's own networks (blocks of known privacy relays left out).
SELECT
  e.account_id,
  count(*) AS n_req,
  min(e.t) AS first_t,
  max(e.t) AS last_t,
  count(DISTINCT e.ip) AS n_ips,
  count(DISTINCT e.ip_block) AS n_blocks,
  sum(CASE WHEN r.ip_block IS NULL THEN 1 ELSE 0 END) AS n_req_own,
  count(DISTINCT CASE WHEN r.ip_block IS NULL THEN e.ip_block END) AS n_blocks_own,
  count(DISTINCT e.payment_id) AS n_payments,
  count(DISTINCT e.user_agent) AS n_uas,
  count(DISTINCT e.model) AS n_models,
  count(DISTINCT floor(e.t / 86400)) AS n_days,
  count(DISTINCT pmod(floor(e.t / 3600), 24)) AS n_hours,
  count(DISTINCT floor(e.t / 3600)) AS n_hour_slots,
  avg(CAST(e.prompt_tokens AS DOUBLE)) AS avg_prompt_tokens,
  avg(CAST(e.completion_tokens AS DOUBLE)) AS avg_completion_tokens
FROM events e LEFT JOIN relay_blocks r ON e.ip_block = r.ip_block
GROUP BY e.account_id
